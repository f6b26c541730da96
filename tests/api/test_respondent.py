"""被投诉人/被投诉部门: recorded at registration (API, web intake) and by the handler, counted by respondent."""

from __future__ import annotations

import uuid

from kesu.analytics.selectors import StatFilters, count_by
from kesu.cases.models import Case
from kesu.cases.selectors import counts_by_respondent
from tests import factories


def test_respondent_recorded_at_registration_corrected_by_handler_and_counted(api, org):
    intake, handler = api(org.intake), api(org.handler)
    teller = factories.person("teller", org.east, "handler")
    r = intake.post(
        "/cases",
        factories.complaint_data(respondent_name="柜台的王姓柜员", respondent_department="EAST"),
    )
    assert r.status_code == 201, r.content.decode()
    number = r.json()["case"]["number"]
    assert r.json()["case"]["respondent_name"] == "柜台的王姓柜员"
    assert r.json()["case"]["respondent_department"] == "EAST"
    assert r.json()["case"]["respondent_staff"] is None

    intake.act(number, "accept")
    intake.act(number, "assign", {"handler": "handler"})
    handler.act(number, "start_investigation", {"contacted_customer": True})
    # The handler identifies the person: the unit follows from the person unless named.
    out = handler.act(number, "set_respondent", {"respondent_staff": "teller", "note": "查监控确认"})
    assert out["event"]["payload"]["respondent_staff"] == teller.pk
    assert out["event"]["payload"]["previous"]["respondent_staff"] is None
    detail = handler.get(f"/cases/{number}").json()
    assert detail["respondent_staff"]["username"] == "teller"
    assert detail["respondent_department"] == "EAST"
    # Naming a colleague is internal: the complainant's timeline does not show it.
    event = Case.objects.get(number=number).events.get(action="set_respondent")
    assert event.is_public is False
    # Nothing changed: refused, no empty event.
    bad = handler.post(f"/cases/{number}/set_respondent", {"respondent_staff": "teller"})
    assert bad.status_code == 422 and bad.json()["code"]

    # A second case against the same unit, one against nobody in particular.
    intake.post("/cases", factories.complaint_data(respondent_department="EAST"))
    intake.post("/cases", factories.complaint_data())
    # The supervisor's statistics by respondent: the selector and the analytics dimension.
    rows = counts_by_respondent(org.supervisor)
    assert {(r.department_code, r.staff_id, r.staff_name, r.total) for r in rows} == {
        ("EAST", teller.pk, "teller", 1),
        ("EAST", None, None, 1),
    }
    by_unit = {
        r["respondent_department"]: r["count"] for r in count_by(StatFilters(), ["respondent_department"])
    }
    assert by_unit["EAST"] == 2
    by_person = count_by(StatFilters(), ["respondent"])
    assert {r["respondent_label"]: r["count"] for r in by_person if r["respondent"] == str(teller.pk)} == {
        "teller": 1
    }
    # The analyst's API: the dimension, and its drill-down parameter selects exactly those cases.
    stats = api(org.analyst).get("/analytics/counts", {"dims": "respondent_department"})
    assert stats.status_code == 200, stats.content.decode()
    east = next(r for r in stats.json()["rows"] if r["respondent_department"] == "EAST")
    assert east["count"] == 2 and east["respondent_department_label"] == "华东分公司"
    narrowed = api(org.analyst).get("/analytics/counts", {"respondent_department": "EAST"})
    assert narrowed.json()["total"] == 2


def test_unknown_respondent_is_refused_with_the_field(api, org):
    r = api(org.intake).post("/cases", factories.complaint_data(respondent_department="NOPE"))
    assert r.status_code == 422
    assert "respondent_department" in r.json()["details"]


def test_web_intake_records_the_respondent_and_the_case_page_shows_it(client, org):
    client.force_login(org.intake)
    assert "被投诉部门" in client.get("/intake/").content.decode()
    r = client.post(
        "/intake/",
        {
            "client_key": uuid.uuid4().hex,
            "name": "王先生",
            "phone": "13900001111",
            "channel": "phone",
            "kind": "complaint",
            "category": "product.defect",
            "description": "营业厅柜员态度恶劣。",
            "people_count": "1",
            "respondent_name": "王柜员",
            "respondent_department": "EAST",
        },
    )
    assert r.status_code == 302
    case = Case.objects.get()
    assert (case.respondent_name, case.respondent_department.code) == ("王柜员", "EAST")
    page = client.get(r["Location"]).content.decode()
    assert "王柜员" in page and "华东分公司" in page
