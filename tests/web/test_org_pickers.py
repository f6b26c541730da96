"""The action forms' people and department pickers are kept per process under the organisation's stamp
(kesu.org.models.OrgStamp): every change of the organisation shows on the next page."""

from django.contrib.auth.models import Group

from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import org_token
from kesu.org.services import ensure_policy_departments
from tests import factories
from tests.web.test_workbench import act


def _accepted(client, org):
    """A case the intake clerk may assign: its page holds the department and handler pickers."""
    case = factories.make_case(org.intake)
    client.force_login(org.intake)
    act(client, case, "accept", kind="complaint", category="product.defect")
    case.refresh_from_db()
    return case


def _assign_form(client, case) -> str:
    html = client.get(f"/cases/{case.number}/").content.decode()
    start = html.index('id="action-assign"')
    return html[start : html.index("</form>", start)]


def test_a_new_handler_appears_in_the_next_case_page(client, org):
    case = _accepted(client, org)
    assert "新来的处理人" not in _assign_form(client, case)  # the lists are now cached
    dept = case.department or org.quality
    user = factories.person("newbie", dept, roles.HANDLER)
    user.first_name = "新来的处理人"
    user.save()
    assert "新来的处理人" in _assign_form(client, case)


def test_a_renamed_department_appears_in_the_next_case_page(client, org):
    case = _accepted(client, org)
    assert "质量改进部" not in _assign_form(client, case)
    quality = Department.objects.get(code="QUALITY")
    quality.name = "质量改进部"
    quality.save()
    assert "质量改进部" in _assign_form(client, case)


def test_a_deactivated_person_leaves_the_next_case_page(client, org):
    case = _accepted(client, org)
    handler2 = f'value="{org.handler2.pk}"'
    assert handler2 in _assign_form(client, case)
    org.handler2.is_active = False
    org.handler2.save(update_fields=["is_active"])
    assert handler2 not in _assign_form(client, case)


def test_a_role_taken_away_leaves_the_next_case_page(client, org):
    case = _accepted(client, org)
    handler2 = f'value="{org.handler2.pk}"'
    assert handler2 in _assign_form(client, case)
    org.handler2.groups.remove(Group.objects.get(name=roles.HANDLER))
    assert handler2 not in _assign_form(client, case)


def test_a_login_keeps_the_stamp(client, org):
    """Each login saves last_login: that is no change of the pickers, so no process drops its lists."""
    before = org_token()
    client.login(username="handler", password="kesu-test-pass-1")
    assert org_token() == before
    org.handler.first_name = "改名"
    org.handler.save()
    assert org_token() != before


def test_a_set_based_department_write_bumps_the_stamp(org):
    Department.objects.filter(code="LEGAL").update(name_en="")
    before = org_token()
    ensure_policy_departments({"org_units": [{"code": "LEGAL", "name": "法律事务部", "name_en": "Legal"}]})
    assert org_token() != before


def test_the_bulk_bar_shows_a_new_handler(client, org):
    client.force_login(org.supervisor)
    url = "/cases/?queue=all"
    first = client.get(url).content.decode()
    assert "新来的处理人" not in first
    user = factories.person("newbie2", org.quality, roles.HANDLER)
    user.first_name = "新来的处理人"
    user.save()
    assert "新来的处理人" in client.get(url).content.decode()
