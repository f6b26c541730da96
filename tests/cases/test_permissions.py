"""Department scoping, whistle-blowing confidentiality, archive access (ARCHITECTURE.md invariant 5)."""

from __future__ import annotations

import pytest

from kesu.cases.models import ArchiveAccessRequest, Status
from kesu.cases.selectors import CaseFilters, case_for_reporter, get_case, list_cases
from kesu.cases.services import allowed_actions, perform, register_case
from kesu.errors import Forbidden, NotFound
from tests import factories
from tests.cases.helpers import Walk, snapshot

pytestmark = pytest.mark.django_db


def assigned_to_quality(o):
    walk = Walk(factories.make_case(o.intake))
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    return walk.case


def test_handler_of_another_department_can_neither_see_nor_act(org):
    case = assigned_to_quality(org)
    # The quality department sees it; the claims handler does not.
    assert get_case(org.handler2, pk=case.pk) == case
    assert case in list_cases(org.handler2)
    # Hidden answers like missing (404): a 403 would confirm that the number exists.
    with pytest.raises(NotFound):
        get_case(org.claims_handler, number=case.number)
    assert case not in list_cases(org.claims_handler)
    assert not list_cases(org.claims_handler, CaseFilters(text=case.number)).exists()
    before = snapshot()
    for action, data in (
        ("start_investigation", {}),
        ("add_note", {"text": "x"}),
        ("suspend", {"reason": "x"}),
    ):
        with pytest.raises(NotFound):
            perform(case, action, org.claims_handler, expected_version=case.version, **data)
    assert snapshot() == before
    assert allowed_actions(case, org.claims_handler) == []
    assert "start_investigation" in allowed_actions(case, org.handler)
    # Company-wide roles see every department.
    assert get_case(org.supervisor, pk=case.pk) == case


def test_department_head_sees_the_subtree_and_collaborators_see_their_request(org):
    case = assigned_to_quality(org)
    assert case in list_cases(org.quality_head)
    assert case not in list_cases(org.finance_handler)
    perform(case, "start_investigation", org.handler)
    perform(case, "request_collaboration", org.handler, department="FINANCE", question="请核实付款")
    assert case in list_cases(org.finance_handler)
    # Seeing the case for the collaboration does not let them work on it.
    with pytest.raises(Forbidden):
        perform(
            case, "propose_remedy", org.finance_handler, remedy_type="refund", amount="1", description="x"
        )


def report(o, **overrides):
    data = factories.complaint_data(
        kind="report", category=None, description="采购经理收受供应商回扣", customer={}, is_anonymous=True
    )
    data.update(overrides)
    return register_case(actor=o.intake, data=data)


def test_whistle_blowing_is_visible_to_risk_only(org):
    registration = report(org)
    case = registration.case
    assert case.customer is None and case.is_anonymous and case.is_confidential
    for user in (org.intake, org.supervisor, org.manager, org.gm, org.admin, org.analyst, org.handler):
        with pytest.raises(NotFound):
            get_case(user, pk=case.pk)
        assert case not in list_cases(user)
    assert get_case(org.risk, pk=case.pk) == case
    assert list(list_cases(org.risk, CaseFilters(kind=["report"]))) == [case]
    # Only risk can work on it; routing sends it to the risk department.
    before = snapshot()
    with pytest.raises(NotFound):
        perform(case, "accept", org.supervisor, expected_version=1)
    assert snapshot() == before
    perform(case, "accept", org.risk, expected_version=1)
    perform(case, "assign", org.risk, handler=org.risk.pk)
    assert case.department.code == "RISK" and case.status == Status.ASSIGNED


def test_anonymous_reporter_follows_progress_with_the_secret_token(org):
    registration = report(org)
    case, token = registration.case, registration.reporter_token
    assert token and len(token) >= 24
    assert token not in case.reporter_token_hash
    assert case_for_reporter(case.number, token) == case
    for wrong_number, wrong_token in ((case.number, token + "x"), (case.number, ""), ("TS000", token)):
        with pytest.raises(NotFound):
            case_for_reporter(wrong_number, wrong_token)
    # A named (non-anonymous) report gets no token.
    named = report(org, is_anonymous=False, customer={"name": "实名举报人", "phone": "13900009999"})
    assert named.reporter_token is None
    with pytest.raises(NotFound):
        case_for_reporter(named.case.number, "")


def archived_case(o):
    walk = Walk(factories.make_case(o.intake))
    walk("mark_invalid", o.intake, reason="out_of_remit")
    walk("archive", o.archivist)
    return walk.case


def test_reading_an_archived_case_needs_an_approved_request(org):
    case = archived_case(org)
    assert get_case(org.archivist, pk=case.pk) == case
    with pytest.raises(Forbidden) as exc:
        get_case(org.supervisor, pk=case.pk)
    assert exc.value.code == "archive_access_required"

    event = perform(case, "request_archive_access", org.supervisor, reason="年度审计抽查")
    request = ArchiveAccessRequest.objects.get(pk=event.payload["request_id"])
    with pytest.raises(Forbidden):  # pending is not approved
        get_case(org.supervisor, pk=case.pk)
    with pytest.raises(Forbidden):  # only the archive keeper decides
        perform(case, "decide_archive_access", org.gm, request_id=request.pk, approve=True)
    perform(case, "decide_archive_access", org.archivist, request_id=request.pk, approve=True, days=3)
    assert get_case(org.supervisor, pk=case.pk) == case
    # The approval is personal.
    with pytest.raises(Forbidden):
        get_case(org.manager, pk=case.pk)

    event = perform(case, "request_archive_access", org.manager, reason="客户申请复核")
    perform(
        case, "decide_archive_access", org.archivist, request_id=event.payload["request_id"], approve=False
    )
    with pytest.raises(Forbidden):
        get_case(org.manager, pk=case.pk)
    assert case.status == Status.ARCHIVED
