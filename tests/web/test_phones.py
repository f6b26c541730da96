"""One phone normaliser through the web forms (the intake desk and the public portal): the forms
store the same form as the API and the importer, and say in Chinese what is wrong with a number."""

from __future__ import annotations

import pytest

from kesu.cases.models import Case, Customer
from tests import factories
from tests.web.test_desk_speed import intake_data
from tests.web.test_portal import submit_data

SAME_PERSON = [
    "0086 130-1759-8020",
    "+86 13017598020",
    "１３０１７５９８０２０",
    "(+86)130 1759 8020",
]


@pytest.mark.parametrize("written", SAME_PERSON)
def test_intake_form_stores_one_form_and_finds_the_known_customer(client, org, written):
    first = factories.make_case(org.intake, customer={"name": "王先生", "phone": "13017598020"})
    client.force_login(org.intake)
    r = client.post("/intake/", intake_data(phone=written))
    assert r.status_code == 302, r.content.decode()[:2000]
    new = Case.objects.exclude(pk=first.pk).get()
    assert new.customer_id == first.customer_id
    assert Customer.objects.get().phone == "13017598020"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("abc", "电话号码无效"),
        ("1381234567", "电话号码无效"),
        ("1.38123E+10", "科学计数法"),
    ],
)
def test_intake_form_says_what_is_wrong_with_a_number(client, org, written, message):
    client.force_login(org.intake)
    r = client.post("/intake/", intake_data(phone=written, email="w@example.com"))
    assert r.status_code == 200 and not Case.objects.exists()
    assert message in r.content.decode()


@pytest.mark.parametrize("written", ["(+86)130 1759 8020", "１３０１７５９８０２０"])
def test_portal_stores_the_same_form(client, org, written):
    r = client.post("/portal/submit/", submit_data(phone=written))
    assert r.status_code == 302, r.content.decode()[:2000]
    assert Case.objects.get().customer.phone == "13017598020"


@pytest.mark.parametrize("written", ["abc", "1381234567", "1.38123E+10"])
def test_portal_refuses_what_is_no_number(client, org, written):
    r = client.post("/portal/submit/", submit_data(phone=written))
    assert r.status_code == 200 and not Case.objects.exists()
    assert "请输入有效的电话号码" in r.content.decode()
