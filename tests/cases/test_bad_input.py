"""Every bad input gets a precise error and leaves the database exactly as it was."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.cases.models import Case, Proposal, Status
from kesu.cases.services import perform, register_case
from kesu.errors import Conflict, Forbidden, IllegalTransition, Invalid, VersionConflict
from tests import factories
from tests.cases.helpers import Walk, snapshot

pytestmark = pytest.mark.django_db


def refused(error_class, code: str, fn, *args, **kwargs):
    """Run fn, expect error_class with code, and assert nothing in the database changed."""
    before = snapshot()
    with pytest.raises(error_class) as exc:
        fn(*args, **kwargs)
    assert type(exc.value) is error_class
    assert exc.value.code == code, exc.value.code
    assert snapshot() == before
    return exc.value


def investigating(o) -> Case:
    walk = Walk(factories.make_case(o.intake))
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    walk("start_investigation", o.handler)
    return walk.case


@pytest.mark.parametrize(
    "overrides,field,reason",
    [
        ({"category": "no.such.category"}, "category", "未知分类"),
        ({"channel": "pigeon"}, "channel", "未知渠道"),
        ({"channel": ""}, "channel", "必填"),
        (
            {"customer": {"name": "无联系方式"}},
            "customer.phone",
            "须提供至少一种联系方式（电话、邮箱或地址）",
        ),
        ({"customer": {"name": "x", "phone": "12"}}, "customer.phone", "电话号码无效"),
        ({"kind": "gossip"}, "kind", "未知类型"),
        ({"description": "   "}, "description", "必填"),
        ({"people_count": 0}, "people_count", "须为正整数"),
        ({"claimed_amount": "很多"}, "claimed_amount", "不是有效金额"),
        ({"flags": ["ghost"]}, "flags", "未知标记：ghost"),
        ({"is_anonymous": True}, "is_anonymous", "只有举报可以匿名"),
    ],
)
def test_bad_registration_is_refused_and_nothing_is_stored(org, overrides, field, reason):
    factories.make_case(org.intake)  # something already in the database
    error = refused(
        Invalid,
        "validation_error",
        register_case,
        actor=org.intake,
        data=factories.complaint_data(**overrides),
    )
    assert error.status == 422
    assert error.details == {field: reason}


def test_every_registration_error_is_listed_at_once(org):
    data = factories.complaint_data(category="nope", channel="nope", customer={"name": "x"})
    error = refused(Invalid, "validation_error", register_case, actor=org.intake, data=data)
    assert set(error.details) == {"category", "channel", "customer.phone"}


def test_unknown_field_is_refused(org):
    error = refused(
        Invalid,
        "validation_error",
        register_case,
        actor=org.intake,
        data=factories.complaint_data(colour="red"),
    )
    assert error.details == {"colour": "未知字段"}


def test_unknown_category_when_accepting(org):
    case = factories.make_case(org.intake)
    error = refused(
        Invalid, "validation_error", perform, case, "accept", org.intake, expected_version=1, category="nope"
    )
    assert error.details == {"category": "未知分类"}


def test_illegal_transition(org):
    case = factories.make_case(org.intake)
    error = refused(
        IllegalTransition, "illegal_transition", perform, case, "close", org.supervisor, criterion="accepted"
    )
    assert error.status == 409 and error.details == {"status": "registered", "action": "close"}
    refused(IllegalTransition, "unknown_action", perform, case, "teleport", org.intake)
    investigating_case = investigating(org)
    refused(IllegalTransition, "illegal_transition", perform, investigating_case, "archive", org.archivist)
    refused(
        IllegalTransition,
        "illegal_transition",
        perform,
        investigating_case,
        "answer_first_contact",
        org.intake,
        answer="x",
    )


def test_approval_above_authority(org):
    case = investigating(org)
    perform(
        case, "propose_remedy", org.handler, remedy_type="compensation", amount="15000", description="赔偿"
    )
    proposal = Proposal.objects.get(case=case)
    assert proposal.required_roles == ["supervisor", "cs_manager", "general_manager"]
    # The department head is no approver in this chain; the GM cannot skip the supervisor's step.
    error = refused(
        Forbidden,
        "above_authority",
        perform,
        case,
        "approve",
        org.quality_head,
        expected_version=case.version,
    )
    assert error.status == 403 and error.details == {"required_role": "supervisor"}
    refused(Forbidden, "above_authority", perform, case, "approve", org.gm, expected_version=case.version)
    perform(case, "approve", org.supervisor, expected_version=case.version)
    # 15,000 is above the supervisor's authority: the second step is the customer-service manager's.
    refused(
        Forbidden, "above_authority", perform, case, "approve", org.supervisor2, expected_version=case.version
    )
    refused(
        Forbidden,
        "above_authority",
        perform,
        case,
        "reject",
        org.supervisor2,
        expected_version=case.version,
        comment="不同意",
    )
    perform(case, "approve", org.manager, expected_version=case.version)
    perform(case, "approve", org.gm, expected_version=case.version)
    assert case.status == Status.RESPONDING


def test_nobody_approves_their_own_proposal(org):
    case = investigating(org)
    perform(case, "propose_remedy", org.supervisor, remedy_type="refund", amount="100", description="退款")
    refused(
        Forbidden, "own_proposal", perform, case, "approve", org.supervisor, expected_version=case.version
    )
    perform(case, "approve", org.supervisor2, expected_version=case.version)
    assert case.status == Status.RESPONDING


def test_one_person_cannot_approve_two_steps(org):
    from kesu.org.models import Staff
    from tests.factories import person

    boss = person("boss", org.service, "supervisor", "cs_manager", supervisor=Staff.objects.get(user=org.gm))
    case = investigating(org)
    perform(case, "propose_remedy", org.handler, remedy_type="refund", amount="5000", description="退款")
    perform(case, "approve", boss, expected_version=case.version)
    refused(Forbidden, "already_approved_step", perform, case, "approve", boss, expected_version=case.version)


def closed_case(o) -> Case:
    case = investigating(o)
    for action, actor, data in (
        ("propose_remedy", o.handler, {"remedy_type": "explanation", "amount": "0", "description": "说明"}),
        ("reply", o.handler, {"text": "已答复"}),
        ("close", o.handler, {"criterion": "accepted"}),
    ):
        perform(case, action, actor, expected_version=case.version, **data)
    return case


def test_follow_up_by_the_handler_or_anyone_involved(org):
    from django.contrib.auth.models import Group

    case = closed_case(org)
    # Without the follow-up role the handler is refused for the role ...
    refused(Forbidden, "role_not_allowed", perform, case, "follow_up", org.handler, score=5)
    # ... and with it, for having handled the case (000 第7篇).
    org.handler.groups.add(Group.objects.get(name="followup"))
    del org.handler._kesu_roles
    refused(
        Forbidden,
        "involved_in_case",
        perform,
        case,
        "follow_up",
        org.handler,
        expected_version=case.version,
        score=5,
    )
    # The supervisor may do follow-ups, but not on a case whose remedy they approved.
    other = investigating(org)
    perform(other, "propose_remedy", org.handler, remedy_type="refund", amount="100", description="退款")
    perform(other, "approve", org.supervisor, expected_version=other.version)
    perform(other, "reply", org.handler, text="已退款")
    perform(other, "close", org.handler, criterion="accepted")
    refused(
        Forbidden,
        "involved_in_case",
        perform,
        other,
        "follow_up",
        org.supervisor,
        expected_version=other.version,
        score=5,
    )
    # On day 5 after closing (001 篇9: the visit is made on day 5 to 7).
    day5 = other.closed_at + dt.timedelta(days=5, hours=12)
    perform(other, "follow_up", org.supervisor2, expected_version=other.version, now=day5, score=5)


def test_bad_follow_up_score(org):
    case = closed_case(org)
    error = refused(Invalid, "validation_error", perform, case, "follow_up", org.followup, score=9)
    assert error.details == {"score": "1–5"}


def test_archive_without_follow_up(org):
    case = closed_case(org)
    refused(
        Conflict, "follow_up_required", perform, case, "archive", org.archivist, expected_version=case.version
    )


def test_stale_version(org):
    case = factories.make_case(org.intake)
    stale = Case.objects.get(pk=case.pk)
    perform(case, "accept", org.intake, expected_version=1)
    error = refused(
        VersionConflict,
        "version_conflict",
        perform,
        stale,
        "mark_invalid",
        org.intake,
        expected_version=1,
        reason="not_specific",
    )
    assert error.status == 409
    assert error.details["expected_version"] == 1 and error.details["current_version"] == 2
    assert [c["action"] for c in error.details["changes"]] == ["accept"]


def test_duplicate_idempotency_key_with_a_different_body(org):
    data = factories.complaint_data()
    first = register_case(actor=org.intake, data=data, idempotency_key="key-1")
    again = register_case(actor=org.intake, data=dict(data), idempotency_key="key-1")
    assert first.created and not again.created and again.case.pk == first.case.pk
    changed = {**data, "description": "另一件事"}
    error = refused(
        Conflict,
        "idempotency_key_reused",
        register_case,
        actor=org.intake,
        data=changed,
        idempotency_key="key-1",
    )
    assert error.status == 409


def test_reopen_after_the_window(org):
    import datetime as dt

    case = closed_case(org)
    later = case.closed_at + dt.timedelta(days=120)
    error = refused(
        Conflict,
        "reopen_window_passed",
        perform,
        case,
        "reopen",
        org.supervisor,
        now=later,
        reason="客户不满",
    )
    assert error.details == {"window_days": 90}


def test_linked_case_refused_while_reopen_is_possible_or_case_is_open(org):
    from kesu.cases.services import open_linked_case

    case = closed_case(org)
    refused(Conflict, "reopen_instead", open_linked_case, case, org.intake, reason="客户再次来电")
    refused(
        Conflict, "case_still_open", open_linked_case, investigating(org), org.intake, reason="客户再次来电"
    )


def test_values_wider_than_their_columns_are_refused_not_cut_or_crashed(org):
    # SQLite would store them; PostgreSQL would refuse the row mid-write. Both get the same clear error.
    before = snapshot()
    with pytest.raises(Invalid) as exc:
        register_case(
            actor=org.intake,
            data=factories.complaint_data(
                customer={"name": "名" * 101, "phone": "13900000000", "address": "路" * 301}
            ),
        )
    assert set(exc.value.details) >= {"customer.name", "customer.address"}
    assert snapshot() == before
