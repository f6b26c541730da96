"""Personal data: masking by role, reveal with a reason (audited), a person's data export, retention purge."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone

from kesu.cases.models import Case, Customer
from kesu.errors import Forbidden, Invalid, NotFound
from kesu.org.models import ApiToken
from kesu.trust import audit, privacy
from kesu.trust.models import AuditEntry
from tests import factories

PERSON = {
    "name": "王五",
    "phone": "13812345678",
    "id_number": "110101199001011234",
    "email": "wangwu@example.com",
    "address": "上海市浦东新区世纪大道100号",
}


@pytest.fixture
def case(org):
    return factories.make_case(org.intake, customer=dict(PERSON))


def _api(client, user, method, path, body=None):
    _, key = ApiToken.issue(user, "t", scopes=["*"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if method == "get":
        return client.get(f"/api/v1{path}", **headers)
    return client.post(f"/api/v1{path}", data=json.dumps(body), content_type="application/json", **headers)


def test_roles_that_do_not_handle_complaints_see_every_field_masked(org, case, client):
    body = _api(client, org.archivist, "get", f"/cases/{case.number}").json()["customer"]
    assert body["masked"] is True
    assert body["phone"] == "138****5678"
    assert "wangwu" not in body["email"] and body["email"].endswith("@example.com")
    assert body["address"].endswith("****") and "100号" not in body["address"]
    assert "1234" not in body["id_number"][:-2] and body["id_number"] != PERSON["id_number"]
    handler_view = _api(client, org.supervisor, "get", f"/cases/{case.number}").json()["customer"]
    assert handler_view["phone"] == PERSON["phone"] and handler_view["address"] == PERSON["address"]
    # the web page masks the same way
    client.force_login(org.archivist)
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert PERSON["phone"] not in page and PERSON["address"] not in page


def test_reveal_needs_a_reason_and_is_audited(org, case, client):
    r = _api(
        client, org.archivist, "post", "/trust/reveal", {"case": case.number, "field": "phone", "reason": ""}
    )
    assert r.status_code == 422
    r = _api(
        client,
        org.archivist,
        "post",
        "/trust/reveal",
        {"case": case.number, "field": "phone", "reason": "客户申请调阅档案，核对身份"},
    )
    assert r.status_code == 200 and r.json()["value"] == PERSON["phone"]
    entry = AuditEntry.objects.filter(action="pii.reveal").last()
    assert entry.actor_name == "archivist" and entry.target_id == case.number
    assert entry.details == {"field": "phone", "reason": "客户申请调阅档案，核对身份"}
    assert audit.verify().ok


def test_reveal_is_refused_to_analysts_and_outsiders(org, case):
    with pytest.raises(Forbidden):
        privacy.reveal(org.analyst, case.number, "id_number", "统计分析需要")
    assert AuditEntry.objects.filter(action="pii.reveal_refused", actor_name="analyst").exists()
    with pytest.raises(NotFound):  # cannot see the case at all: it does not exist for them
        privacy.reveal(org.finance_handler, case.number, "phone", "想看一下号码")
    with pytest.raises(Invalid):
        privacy.reveal(org.supervisor, case.number, "description", "不是个人信息字段")
    assert privacy.reveal(org.supervisor, case.number, "id_number", "核实客户身份") == PERSON["id_number"]


def test_export_of_one_persons_data(org, tmp_path):
    mine = [factories.make_case(org.intake, customer=dict(PERSON)) for _ in range(2)]
    other = factories.make_case(org.intake)
    out = tmp_path / "person.json"
    call_command("pii", "export", "--phone", PERSON["phone"], "--out", str(out), stderr=io.StringIO())
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {c["number"] for c in data["cases"]} == {c.number for c in mine}
    assert other.number not in out.read_text(encoding="utf-8")
    assert data["customers"][0]["id_number"] == PERSON["id_number"]
    assert data["cases"][0]["timeline"][0]["action"] == "register"
    xlsx = tmp_path / "person.xlsx"
    call_command(
        "pii",
        "export",
        "--id-number",
        PERSON["id_number"],
        "--format",
        "xlsx",
        "--out",
        str(xlsx),
        stderr=io.StringIO(),
    )
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    assert wb["案件"].max_row == 3
    assert AuditEntry.objects.filter(action="pii.export").count() == 2


def _stats():
    return sorted(
        Case.objects.annotate(month=TruncMonth("received_at"))
        .values_list("category__code", "month", "kind", "channel__code", "status")
        .annotate(n=Count("id"))
    )


def test_purge_anonymises_expired_cases_and_keeps_statistics(org):
    now = timezone.now()
    old = [
        factories.make_case(org.intake, customer={"name": f"老客户{i}", "phone": f"1370000000{i}"})
        for i in range(3)
    ]
    recent = factories.make_case(org.intake, customer={"name": "新客户", "phone": "13900000009"})
    long_ago = now - dt.timedelta(days=365 * 21)
    Case.objects.filter(pk__in=[c.pk for c in old]).update(
        status="closed", closed_at=long_ago, received_at=long_ago
    )
    # one old case is only 19 years closed: kept
    Case.objects.filter(pk=old[2].pk).update(closed_at=now - dt.timedelta(days=365 * 19))
    before = _stats()

    out = io.StringIO()
    call_command("pii", "purge", "--dry-run", stdout=out)
    assert old[0].number in out.getvalue() and old[2].number not in out.getvalue()
    assert Customer.objects.filter(name="老客户0").exists()  # dry run changes nothing

    result = privacy.purge(dry_run=False)
    assert set(result.cases) == {old[0].number, old[1].number}
    for c in old[:2]:
        c.refresh_from_db()
        c.customer.refresh_from_db()
        assert c.customer.phone == "" and c.customer.name == "" and c.description == privacy.PURGED_TEXT
    old[2].refresh_from_db()
    assert old[2].customer.phone == "13700000002"
    recent.refresh_from_db()
    assert recent.customer.name == "新客户"
    assert _stats() == before
    assert privacy.purge(dry_run=False).cases == []  # idempotent
    assert AuditEntry.objects.filter(action="pii.purge").count() == 1


def test_retention_per_kind_from_the_policy():
    doc = {"archive": {"retention_years": 20, "retention_years_by_kind": {"consultation": 3}}}
    assert privacy.retention_years(doc, "consultation") == 3
    assert privacy.retention_years(doc, "complaint") == 20
    assert privacy.retention_years({}, "complaint") == 20


def _bulk_old_cases(template: Case, n: int, *, closed_at, shared_customer=None) -> list[Case]:
    """`n` finished cases cloned from `template` in two bulk inserts, each with its own customer (or
    `shared_customer`) and its own receipt time (distinct values, as in a real history)."""
    if shared_customer is None:
        customers = Customer.objects.bulk_create(
            Customer(name=f"历史客户{i}", phone=f"136{i:08d}", id_number=f"11010119800101{i:04d}")
            for i in range(n)
        )
    else:
        customers = [shared_customer] * n
    skip = {"id", "number", "customer", "received_at", "closed_at", "status"}
    fields = {
        f.attname: getattr(template, f.attname) for f in Case._meta.concrete_fields if f.name not in skip
    }
    stamp = f"{n:03d}{template.pk:05d}"
    return Case.objects.bulk_create(
        (
            Case(
                **fields,
                number=f"HX{stamp}{i:06d}",
                customer=c,
                status="closed",
                received_at=closed_at - dt.timedelta(days=30, minutes=i),
                closed_at=closed_at - dt.timedelta(minutes=i),
            )
            for i, c in enumerate(customers)
        ),
        batch_size=1000,
    )


def test_purge_at_scale_is_set_based(org):
    """Thousands of expired cases, each with its own receipt time: the dry run and the purge finish
    (no per-case condition, no id list the size of the history) and touch exactly what expired."""
    now = timezone.now()
    template = factories.make_case(org.intake, customer={"name": "模板", "phone": "13500000000"})
    long_ago = now - dt.timedelta(days=365 * 21)
    expired = _bulk_old_cases(template, 3000, closed_at=long_ago)
    # One customer with an expired case and a case still within retention keeps their data.
    keeper = expired[0].customer
    _bulk_old_cases(template, 1, closed_at=now - dt.timedelta(days=365), shared_customer=keeper)
    before = _stats()

    out = io.StringIO()
    call_command("pii", "purge", "--dry-run", stdout=out)
    assert "共 3000 件" in out.getvalue() and "2999 位客户" in out.getvalue()
    assert not Case.objects.filter(description=privacy.PURGED_TEXT).exists()

    result = privacy.purge(dry_run=False)
    assert (result.case_count, result.customers, len(result.cases)) == (3000, 2999, privacy.LISTED_NUMBERS)
    assert Case.objects.filter(description=privacy.PURGED_TEXT).count() == 3000
    assert Customer.objects.filter(phone="").count() == 2999
    keeper.refresh_from_db()
    assert keeper.phone == "13600000000"
    template.refresh_from_db()
    assert template.description != privacy.PURGED_TEXT and template.customer.name == "模板"
    assert _stats() == before
    again = privacy.purge(dry_run=True)
    assert (again.case_count, again.customers) == (0, 0)
