"""Organisation: reporting lines, roles, and the departments a policy routes to."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from kesu.org.models import Department
from kesu.org.selectors import department_heads, direct_supervisor, is_company_wide, user_roles
from kesu.org.services import create_staff, ensure_policy_departments
from kesu.policy.loader import resolve_preset

pytestmark = pytest.mark.django_db


def test_reporting_line_is_known(org):
    assert direct_supervisor(org.handler) == org.quality_head
    assert direct_supervisor(org.quality_head) == org.manager
    # Without an explicit supervisor the head of the department stands in.
    assert direct_supervisor(org.finance_handler) is None
    assert list(department_heads(org.quality)) == [org.quality_head]


def test_roles_are_groups_and_unknown_roles_are_refused(org):
    assert user_roles(org.quality_head) == {"dept_head", "handler"}
    assert is_company_wide(org.supervisor) and not is_company_wide(org.handler)
    with pytest.raises(ValueError):
        create_staff(username="x", full_name="x", department=org.hq, role_codes=["emperor"])


def test_department_path_follows_the_tree(org):
    sub = Department.objects.create(code="EAST-SH", name="上海支公司", parent=org.east, kind="sub_branch")
    assert sub.path == "/HQ/EAST/EAST-SH/"
    assert sub.branch == org.east


@pytest.mark.parametrize("preset", ["hotel", "auto_dealer", "securities", "telecom"])
def test_policy_departments_are_created_once(org, preset):
    document = resolve_preset(preset)
    created = ensure_policy_departments(document)
    routed = {c["department"] for c in document["categories"] if c.get("department")}
    assert routed <= set(Department.objects.values_list("code", flat=True))
    names = {u["code"]: u["name"] for u in document["org_units"]}
    for dept in created:
        assert dept.parent == org.hq and dept.name == names.get(dept.code, dept.code)
    assert ensure_policy_departments(document) == []


def test_accounts_sharing_a_password_can_be_given_one_hash(org):
    """The demo company's accounts share one password: hashed once, each account logs in with it."""
    hashed = make_password("Shared-pass-2025")
    a = create_staff(username="a1", full_name="甲", department=org.hq, role_codes=[], password_hash=hashed)
    b = create_staff(username="b1", full_name="乙", department=org.hq, role_codes=[], password_hash=hashed)

    assert a.user.password == b.user.password == hashed
    assert b.user.check_password("Shared-pass-2025")
    assert not b.user.check_password("wrong-pass-2025")
