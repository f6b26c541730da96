"""One phone normaliser through the API: however a number is written, it is one person (stored
form, customer matching, search, related cases); what is no number is a structured 422."""

from __future__ import annotations

import pytest

from kesu.cases.models import Case, Customer
from kesu.cases.phones import PHONE_INVALID, PHONE_SCIENTIFIC
from tests import factories
from tests.api.conftest import db_state

SAME_PERSON = [
    "0086 130-1759-8020",
    "+86 13017598020",
    "１３０１７５９８０２０",  # full-width digits
    "(+86)130 1759 8020",
    "（＋８６）１３０ １７５９ ８０２０",
]


@pytest.mark.parametrize("written", SAME_PERSON)
def test_every_way_of_writing_a_mobile_is_the_same_customer(api, org, written):
    first = factories.make_case(org.intake, customer={"name": "王先生", "phone": "13017598020"})
    r = api(org.intake).post(
        "/cases", factories.complaint_data(customer={"name": "王先生", "phone": written})
    )
    assert r.status_code in (200, 201), r.content.decode()
    case = Case.objects.get(number=r.json()["case"]["number"])
    assert case.customer_id == first.customer_id
    assert Customer.objects.get().phone == "13017598020"

    # search by the number as written finds both (supervisor: sees identifiers unmasked)
    found = api(org.supervisor).get("/cases", {"text": written}).json()
    assert {c["number"] for c in found["items"]} == {first.number, case.number}

    related = api(org.supervisor).post(
        "/insight/related", {"text": "", "customer": {"phone": written}, "window_days": 3650}
    )
    assert related.status_code == 200, related.content.decode()
    assert {first.number, case.number} <= {r["number"] for r in related.json()}


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("abc", PHONE_INVALID),
        ("1381234567", PHONE_INVALID),  # a mobile one digit short
        ("1.38123E+10", PHONE_SCIENTIFIC),  # Excel's mangling: the digits are gone
    ],
)
def test_a_phone_that_is_no_number_is_refused_with_a_structured_error(api, org, written, reason):
    before = db_state()
    # An e-mail address beside it does not make a wrong number acceptable (it used to be dropped).
    body = factories.complaint_data(customer={"name": "王先生", "phone": written, "email": "w@example.com"})
    r = api(org.intake).post("/cases", body)
    assert r.status_code == 422, r.content.decode()
    assert r["Content-Type"].startswith("application/json")
    error = r.json()
    assert error["code"] == "validation_error" and error["message"]
    assert error["details"] == {"customer.phone": reason}
    assert db_state() == before


def test_a_landline_with_its_area_code_is_stored_without_separators(api, org):
    r = api(org.intake).post(
        "/cases", factories.complaint_data(customer={"name": "李女士", "phone": "+86 (010) 6234-5678"})
    )
    assert r.status_code in (200, 201), r.content.decode()
    assert Customer.objects.get().phone == "01062345678"
