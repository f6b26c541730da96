"""Less noise: the daily digest, and which notification kinds a user may receive that way.

Notifications of a kind the user takes as a daily digest (`kesu.sla.notify.delivery_mode`) are held:
not in the inbox, never e-mailed alone. Once a day (settings.KESU_PERIODIC_JOBS, "sla.digest") each
user with held notifications gets one message listing them, by case; the held rows are marked as
listed and stay out of the inbox.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from kesu.calendar.workcalendar import SHANGHAI
from kesu.sla.models import Notification, NotificationPreference
from kesu.sla.notify import DEFAULT_MODES, notify

# The kinds a user may choose for (the settings page), with their names.
KIND_LABELS = {
    "accountability.proposed": gettext_lazy("待确认的责任追究"),
    "handoff.assigned": gettext_lazy("分派给我的案件"),
    "handoff.collaboration": gettext_lazy("协办请求"),
    "handoff.collaboration_answered": gettext_lazy("协办回复"),
    "handoff.panel": gettext_lazy("合议邀请"),
    "handoff.panel_decided": gettext_lazy("合议决议"),
    "handoff.collaboration_request": gettext_lazy("待我审批的协办申请"),
    "handoff.collaboration_decided": gettext_lazy("协办申请审批结果"),
    "handoff.panel_request": gettext_lazy("待我审批的合议申请"),
    "handoff.panel_request_decided": gettext_lazy("合议申请审批结果"),
    "handoff.panel_preliminary": gettext_lazy("合议初步意见"),
    "handoff.approval": gettext_lazy("待我审批"),
    "handoff.approval_decided": gettext_lazy("审批结果"),
    "handoff.reopened": gettext_lazy("重新处理的案件"),
    "handoff.archive_access": gettext_lazy("调阅申请"),
    "handoff.archive_access_decided": gettext_lazy("调阅审批结果"),
    "handoff.regulator_submission": gettext_lazy("监管报送备案"),
    "measure.approval": gettext_lazy("待审批的整改措施"),
    "handoff.new_case": gettext_lazy("新投诉待受理"),
    "handoff.report": gettext_lazy("新举报"),
    "handoff.major": gettext_lazy("重大案件"),
    "handoff.crisis": gettext_lazy("危机案件"),
    "sla.warning": gettext_lazy("时限预警"),
    "sla.escalation": gettext_lazy("超时升级"),
    "insight_warning": gettext_lazy("投诉量异常预警"),
}
# Kinds that must reach their recipient at once whatever they choose: a breach escalates now.
ALWAYS_IMMEDIATE = {"sla.escalation", "handoff.major", "handoff.crisis"}


def preferences(user) -> list[dict]:
    """Every kind with its name and the user's current mode (the settings page)."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "mode"))
    return [
        {
            "kind": kind,
            "label": str(label),
            "mode": chosen.get(kind) or DEFAULT_MODES.get(kind, NotificationPreference.Mode.IMMEDIATE),
            "fixed": kind in ALWAYS_IMMEDIATE,
        }
        for kind, label in KIND_LABELS.items()
    ]


def set_preferences(user, modes: dict[str, str]) -> int:
    """Save the user's choices (unknown kinds and modes are ignored). Returns how many were stored."""
    n = 0
    with transaction.atomic():
        for kind, mode in modes.items():
            if (
                kind not in KIND_LABELS
                or kind in ALWAYS_IMMEDIATE
                or mode not in NotificationPreference.Mode.values
            ):
                continue
            NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"mode": mode})
            n += 1
    return n


def send_digests(now: dt.datetime | None = None) -> int:
    """One message per user listing their held notifications, grouped by case. Returns the users told."""
    now = now or timezone.now()
    day = now.astimezone(SHANGHAI).date()
    held = list(
        Notification.objects.filter(held_for_digest=True, digested_at__isnull=True)
        .select_related("case")
        .order_by("user_id", "case_id", "created_at")
    )
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for n in held:
        by_user[n.user_id].append(n)
    users = get_user_model().objects.in_bulk(list(by_user))
    told = 0
    for user_id, items in by_user.items():
        user = users.get(user_id)
        if user is None:
            continue
        with transaction.atomic():
            # Each listed notification kept as its message (the stored words as the fallback), so the
            # digest reads in the reader's language like the notifications it lists.
            listed = [
                {"message_id": n.message_id, "params": n.params, "title": n.title, "body": n.body}
                for n in items
            ]
            notify(
                [user],
                kind="digest",
                message="digest",
                params={"count": len(items), "items": listed},
                key=f"digest:{day:%Y%m%d}:{items[-1].pk}",
                now=now,
            )
            Notification.objects.filter(pk__in=[n.pk for n in items]).update(digested_at=now)
        told += 1
    return told
