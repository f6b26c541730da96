"""The chain heads, anchored outside the database once a day.

A hash chain shows that rows were edited, deleted or reordered only as long as its head is known from
somewhere the attacker could not write as well: someone with write access to the database can
recompute every hash after editing a row. So once a day (`settings.KESU_PERIODIC_JOBS`,
`kesu.trust.tasks.anchor_chain_heads`) the audit log's head and a digest of every case's last event
hash (`kesu.cases.chain.heads_digest`) are written to the log and mailed to the administrators
(settings.ADMINS, else every active user with the 系统管理员 role). An auditor compares a mailed line
with `kesu audit anchor` run on a restore of the backup taken at the same time (SECURITY.md).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.cases import chain
from kesu.org import roles
from kesu.org.selectors import users_with_role
from kesu.trust.audit import HEAD_PK
from kesu.trust.models import AuditHead

logger = logging.getLogger("kesu.trust.anchor")


def current() -> dict[str, Any]:
    """The heads now: the audit log's (seq, hash) and the digest over every case's last event."""
    head = AuditHead.objects.filter(pk=HEAD_PK).values("seq", "hash").first() or {"seq": 0, "hash": ""}
    return {
        "at": timezone.now().isoformat(),
        "audit_head": {"seq": head["seq"], "hash": head["hash"]},
        "case_events": chain.heads_digest(),
    }


def recipients() -> list[str]:
    configured = [address for _name, address in getattr(settings, "ADMINS", [])]
    if configured:
        return configured
    return sorted({u.email for u in users_with_role(roles.ADMIN) if u.email and u.is_active})


def publish() -> dict[str, Any]:
    """Write the heads to the log and mail them to the administrators; returns what was sent."""
    heads = current()
    line = json.dumps(heads, ensure_ascii=False, sort_keys=True)
    logger.info("chain anchor %s", line)
    to = recipients()
    if to:
        send_mail(
            _("Kesu 审计链头 %(date)s") % {"date": timezone.localdate().isoformat()},
            _("请将本邮件原样保存在数据库之外（邮箱归档），用于日后核对审计日志与案件时间线是否被改动。")
            + "\n\n"
            + line
            + "\n",
            None,
            to,
        )
    else:
        logger.warning("chain anchor: no administrator e-mail address (settings.ADMINS or 系统管理员 users)")
    return heads
