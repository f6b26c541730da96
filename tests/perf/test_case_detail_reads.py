"""The API case detail (`GET /api/v1/cases/{number}`) reads only the related sets a case has.

It presents eleven related sets (collaborations, panels, proposals, follow-ups, accountabilities,
archive requests, attachments, emergency plan, typical-case entry, regulator submissions, involved
staff) and used to read each with its own query, 19 statements per request, though most cases have
none of most of them. The case's own statement now tells with one EXISTS per set which are non-empty
(`kesu.cases.selectors.get_case(parts=True)`), and only those are read. The answer must stay
byte-identical to reading every set, for every reader (PII masking included).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from kesu.api.schemas import case_presenters
from kesu.cases.models import Attachment, Case, EmergencyPlan, RegulatorSubmission, TypicalCase
from tests import factories
from tests.api.conftest import walk_to
from tests.perf.bulk import clone_cases
from tests.perf.test_query_counts import queries

pytestmark = pytest.mark.django_db

SIZES = (20, 200)
# token, case (with one EXISTS per related set), audit append (SQLite: savepoint, head, insert, update,
# release; PostgreSQL: one statement), stage deadlines, events
PLAIN_CASE_QUERIES = {"sqlite": 9, "postgresql": 5}
PART_KEYS = (  # of the full case below; a panel review is on a case of its own in _varied_cases
    "collaborations",
    "proposals",
    "follow_ups",
    "accountabilities",
    "archive_requests",
    "emergency_plan",
    "typical",
    "regulator_submissions",
    "involved_staff",
    "attachments",
)


def _detail(client, number: str) -> bytes:
    response = client.get(f"/cases/{number}")
    assert response.status_code == 200, response.content.decode()
    return response.content


def test_detail_of_a_case_without_related_rows_reads_none_of_them_at_any_size(api, org):
    case = factories.make_case(org.intake)
    client = api(org.manager)
    seen = {}
    for n in SIZES:
        clone_cases(case, n - Case.objects.count())
        seen[n] = queries(lambda: _detail(client, case.number))
    assert seen == {n: PLAIN_CASE_QUERIES[connection.vendor] for n in SIZES}, seen


def test_detail_of_a_case_with_every_related_set_does_not_grow(api, org):
    case = _full_case(api, org)
    client = api(org.handler)  # granted access to the archived file
    seen = {}
    for n in SIZES:
        clone_cases(factories.make_case(org.intake), n - Case.objects.count())
        seen[n] = queries(lambda: _detail(client, case.number))
    assert len(set(seen.values())) == 1, seen
    body = client.get(f"/cases/{case.number}").json()
    assert [part for part in PART_KEYS if not body[part]] == []  # every set is read and presented


def _full_case(api, org) -> Case:
    """A closed, archived case with a proposal, a follow-up, an archive request, a collaboration, an
    accountability, involved staff, an emergency plan, a typical-case entry, a regulator submission and
    an attachment."""
    intake, handler = api(org.intake), api(org.handler)
    created = intake.post(
        "/cases", factories.complaint_data(claimed_amount="5000", involved_staff=["handler2"])
    )
    assert created.status_code == 201, created.content.decode()
    number = created.json()["case"]["number"]
    intake.act(number, "accept", {"category": "product.defect"})
    intake.act(number, "assign", {"handler": "handler"})
    handler.act(number, "start_investigation", {"contacted_customer": True})
    out = handler.act(number, "request_collaboration", {"department": "CLAIMS", "question": "请核实理赔记录"})
    api(org.claims_handler).act(
        number,
        "answer_collaboration",
        {"request_id": out["event"]["payload"]["request_id"], "answer": "已核实"},
    )
    out = api(org.supervisor).act(number, "propose_accountability", {"person": "handler"})
    out = handler.act(
        number, "propose_remedy", {"remedy_type": "compensation", "amount": "5000", "description": "赔偿损失"}
    )
    proposal = handler.get(f"/cases/{number}").json()["proposals"][0]["id"]
    api(org.supervisor).act(number, "approve", {"proposal_id": proposal, "comment": "同意"})
    api(org.manager).act(number, "approve", {"proposal_id": proposal})
    handler.act(number, "reply", {"text": "已同意赔偿 5000 元", "method": "phone"})
    handler.act(number, "close", {"criterion": "accepted"})
    Case.objects.filter(number=number).update(closed_at=F("closed_at") - dt.timedelta(days=6))
    api(org.followup).act(number, "follow_up", {"score": 5, "comment": "满意"})
    api(org.archivist).act(number, "archive")
    out = handler.act(number, "request_archive_access", {"reason": "客户再次来电，需查阅原处理记录"})
    api(org.archivist).act(
        number,
        "decide_archive_access",
        {"request_id": out["event"]["payload"]["request_id"], "approve": True},
    )
    case = Case.objects.get(number=number)
    now = timezone.now()
    # Rows the read presents, written directly: this test is about reading them.
    EmergencyPlan.objects.create(
        case=case,
        leader=org.manager,
        measures="上门",
        contacts="张三",
        recorded_by=org.manager,
        recorded_at=now,
    )
    TypicalCase.objects.create(case=case, lesson="先核实再答复", marked_by=org.supervisor, marked_at=now)
    RegulatorSubmission.objects.create(
        case=case, regulator="银保监局", sent_at=now, contents="案卷", sent_by=org.manager, recorded_at=now
    )
    Attachment.objects.create(
        case=case,
        original_name="发票.pdf",
        stored_name=f"{case.number}-1",
        content_type="application/pdf",
        size=3,
        sha256="0" * 64,
        uploaded_by=org.handler,
    )
    return case


def _varied_cases(api, org) -> list[Case]:
    cases = [_full_case(api, org)]
    for i, status in enumerate(
        ("registered", "accepted", "assigned", "investigating", "pending_approval") * 10
    ):
        overrides = [{}, {"flags": ["injury"]}, {"claimed_amount": "800"}][i % 3]
        if status == "registered":
            cases.append(factories.make_case(org.intake, **overrides))
        else:  # a major (injury) case needs a panel before a proposal
            overrides = {} if status == "pending_approval" and "flags" in overrides else overrides
            cases.append(walk_to(api, org, status, **overrides))
    # a collaboration, a panel review, an accountability on open cases
    collab = walk_to(api, org, "investigating")
    api(org.handler).act(
        collab.number, "request_collaboration", {"department": "CLAIMS", "question": "请核实"}
    )
    panel = walk_to(api, org, "investigating", flags=["injury"])
    api(org.handler).act(
        panel.number, "convene_panel", {"topic": "赔偿方案", "participants": ["handler", "quality_head"]}
    )
    account = walk_to(api, org, "investigating")
    api(org.supervisor).act(account.number, "propose_accountability", {"person": "handler"})
    return [*cases, collab, panel, account]


def test_detail_is_byte_identical_to_reading_every_related_set(api, org, monkeypatch):
    cases = _varied_cases(api, org)
    assert len(cases) >= 50
    # the analyst sees PII masked; the handler reads the archived case through the access granted
    readers = [api(org.manager), api(org.handler), api(org.analyst), api(org.archivist)]
    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)  # the stages' time used is counted to now
    compared = 0
    for case in cases:
        for reader in readers:
            response = reader.get(f"/cases/{case.number}")
            if response.status_code != 200:
                continue  # not theirs to read: the same answer either way (the permission tests say which)
            with monkeypatch.context() as m:
                m.setattr(case_presenters, "has_part", lambda case, part: True)
                every_set = reader.get(f"/cases/{case.number}")
            assert response.content == every_set.content, case.number
            compared += 1
    assert compared >= 100


def test_detail_does_not_build_a_subquery_per_related_set(api, org, monkeypatch):
    """The eleven EXISTS are SQL text written from the models once (selectors._part_flags): building and
    compiling them as ORM subqueries (`Exists(...)`) on every request cost 3.4 of the detail's 9.6 CPU ms
    on SQLite (bench/request_overhead.py --ops read_case)."""
    from django.db.models import Exists

    compiled = []
    original = Exists.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Exists, "as_sql", counting)
    case = factories.make_case(org.intake)
    _detail(api(org.manager), case.number)
    assert compiled == []
