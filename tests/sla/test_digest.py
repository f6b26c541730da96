"""Less noise: penalty proposals reach the supervisor as one daily list, each user chooses per kind."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from kesu.policy.selectors import rules_for
from kesu.sla import digest
from kesu.sla.models import Notification, NotificationPreference
from kesu.sla.selectors import inbox, unread_count
from kesu.sla.services import propose_accountability
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def _handled_major_case(o):
    case = factories.make_case(o.intake, flags=["injury"], claimed_amount="3000")
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    case.refresh_from_db()
    return case


def test_penalty_proposals_are_one_daily_message_for_the_supervisor(org):
    o = org
    now = timezone.now()
    cases = [_handled_major_case(o) for _ in range(2)]
    for case in cases:
        record = propose_accountability(case, rules_for(case.policy_id), reason="breach:answer", now=now)
        assert record is not None and record.person_amount > 0
    # held: not in the inbox, not counted, not e-mailed
    held = Notification.objects.filter(user=o.quality_head, kind="accountability.proposed")
    # a major case is also proposed for its grade at assignment: two proposals per case
    assert held.count() == 4 and all(n.held_for_digest for n in held)
    assert not [n for n in inbox(o.quality_head) if n.kind == "accountability.proposed"]
    before = unread_count(o.quality_head)

    assert digest.send_digests(now + dt.timedelta(hours=1)) >= 1
    (message,) = [n for n in inbox(o.quality_head) if n.kind == "digest"]
    assert message.title == "每日汇总：4 条待处理"
    for case in cases:
        assert case.number in message.body
    assert "breach" not in message.body and "超时" in message.body and "案件等级" in message.body
    assert unread_count(o.quality_head) == before + 1
    # listed once: the next day's digest does not repeat them
    assert digest.send_digests(now + dt.timedelta(days=1)) == 0


def test_a_user_who_chooses_immediate_gets_each_proposal_at_once(org):
    o = org
    digest.set_preferences(
        o.quality_head, {"accountability.proposed": "immediate", "sla.escalation": "digest"}
    )
    # an escalation cannot be put off
    assert not NotificationPreference.objects.filter(user=o.quality_head, kind="sla.escalation").exists()
    case = _handled_major_case(o)
    propose_accountability(case, rules_for(case.policy_id), reason="graded", now=timezone.now())
    (n,) = [n for n in inbox(o.quality_head) if n.kind == "accountability.proposed"]
    assert n.title == f"待确认责任追究：{case.number}" and "（案件等级）" in n.body


def test_the_settings_page_saves_the_choice(client, org):
    client.force_login(org.quality_head)
    page = client.get("/account/notifications/").content.decode()
    assert "待确认的责任追究" in page
    assert re.search(r'name="mode:accountability.proposed" value="digest"[^>]* checked', page)
    r = client.post("/account/notifications/", {"mode:accountability.proposed": "immediate"})
    assert r.status_code == 302
    assert digest.preferences(org.quality_head)[0]["mode"] == "immediate"


def test_the_inbox_groups_by_case_and_marks_what_needs_action(client, org):
    o = org
    case = factories.make_case(o.intake)
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    other = factories.make_case(o.intake)
    Walk(other)("accept", o.intake)
    Walk(other)("assign", o.intake, handler=o.handler.pk)
    Walk(other)("start_investigation", o.handler)
    client.force_login(o.handler)
    page = client.get("/inbox/").content.decode()
    assert page.count('class="inbox-group') == 2
    # the first case still waits for the handler; the other one they have started
    first = page[page.index(f'data-case="{case.number}"') :]
    first = first[: first.index("</tbody>")]
    second = page[page.index(f'data-case="{other.number}"') :]
    second = second[: second.index("</tbody>")]
    assert "待您处理" in first and "待您处理" not in second


def test_the_e_mail_catch_up_never_mails_a_message_held_for_the_digest(org):
    import datetime as dt

    from django.core import mail
    from django.utils import timezone

    from kesu.sla.models import Notification, NotificationPreference
    from kesu.sla.notify import notify, send_unsent_emails

    NotificationPreference.objects.update_or_create(
        user=org.supervisor,
        kind="accountability.proposed",
        defaults={"mode": NotificationPreference.Mode.DIGEST},
    )
    notify([org.supervisor], kind="accountability.proposed", title="待确认责任追究", key="t:held")
    held = Notification.objects.get(dedupe_key__startswith="t:held")
    assert held.held_for_digest
    mail.outbox.clear()
    send_unsent_emails(now=timezone.now() + dt.timedelta(minutes=30))
    assert mail.outbox == []
