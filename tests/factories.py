"""Factories shared by the test suites: an organisation, people in every role, and cases.

`org()` builds a small company (head office, two branches, functional departments) with one
person per role; `make_case()` registers a complaint through the real service.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from kesu.cases.services import register_case
from kesu.org import roles
from kesu.org.models import Department, Staff
from kesu.org.services import create_staff, ensure_role_groups
from kesu.policy.services import load_preset

_seq = itertools.count(1)


@dataclass
class Org:
    hq: Department
    east: Department
    service: Department
    claims: Department
    quality: Department
    finance: Department
    risk_dept: Department
    people: dict[str, Any]

    def __getattr__(self, name: str):
        try:
            return self.people[name]
        except KeyError:
            raise AttributeError(name)


def department(
    code: str, name: str, parent: Department | None = None, kind: str = "functional"
) -> Department:
    dept, _ = Department.objects.get_or_create(
        code=code, defaults={"name": name, "parent": parent, "kind": kind}
    )
    return dept


def person(username: str, dept: Department, *role_codes: str, supervisor: Staff | None = None):
    return create_staff(
        username=username,
        full_name=username,
        department=dept,
        role_codes=list(role_codes),
        password="kesu-test-pass-1",
        supervisor=supervisor,
        email=f"{username}@example.test",
    ).user


def org(preset: str = "general", layers: list[str] | None = None) -> Org:
    """Load a preset and build the organisation every test suite uses."""
    load_preset(preset, layers=layers)
    ensure_role_groups()
    hq = department("HQ", "总公司", kind="head_office")
    east = department("EAST", "华东分公司", hq, kind="branch")
    depts = {
        "service": department("SERVICE", "客户服务部", hq),
        "claims": department("CLAIMS", "理赔部", hq),
        "quality": department("QUALITY", "质量管理部", hq),
        "finance": department("FINANCE", "财务部", hq),
        "risk_dept": department("RISK", "风险合规部", hq),
    }
    for code, name in (
        ("LEGAL", "法律事务部"),
        ("LOGISTICS", "物流部"),
        ("SALES", "销售部"),
        ("OPERATIONS", "运营部"),
    ):
        department(code, name, hq)
    p: dict[str, Any] = {}
    p["gm"] = person("gm", hq, roles.GENERAL_MANAGER)
    p["manager"] = person("manager", depts["service"], roles.CS_MANAGER, supervisor=p["gm"].staff)
    p["supervisor"] = person("supervisor", depts["service"], roles.SUPERVISOR, supervisor=p["manager"].staff)
    p["supervisor2"] = person(
        "supervisor2", depts["service"], roles.SUPERVISOR, supervisor=p["manager"].staff
    )
    p["intake"] = person("intake", depts["service"], roles.INTAKE, supervisor=p["supervisor"].staff)
    p["quality_head"] = person(
        "quality_head", depts["quality"], roles.DEPT_HEAD, roles.HANDLER, supervisor=p["manager"].staff
    )
    p["handler"] = person("handler", depts["quality"], roles.HANDLER, supervisor=p["quality_head"].staff)
    p["handler2"] = person("handler2", depts["quality"], roles.HANDLER, supervisor=p["quality_head"].staff)
    p["claims_head"] = person(
        "claims_head", depts["claims"], roles.DEPT_HEAD, roles.HANDLER, supervisor=p["manager"].staff
    )
    p["claims_handler"] = person(
        "claims_handler", depts["claims"], roles.HANDLER, supervisor=p["claims_head"].staff
    )
    p["finance_handler"] = person("finance_handler", depts["finance"], roles.HANDLER)
    p["followup"] = person("followup", depts["service"], roles.FOLLOWUP, supervisor=p["supervisor"].staff)
    p["analyst"] = person("analyst", hq, roles.ANALYST)
    p["risk"] = person("risk", depts["risk_dept"], roles.RISK, roles.HANDLER)
    p["archivist"] = person("archivist", hq, roles.ARCHIVIST)
    p["admin"] = person("admin", hq, roles.ADMIN)
    return Org(hq=hq, east=east, **depts, people=p)


def complaint_data(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    data: dict[str, Any] = {
        "channel": "phone",
        "kind": "complaint",
        "category": "product.defect",
        "description": f"购买的热水器第{n}天就漏水，要求更换。",
        "demands": "更换新机并赔偿损失",
        "customer": {"name": f"客户{n}", "phone": f"139{n:08d}"},
    }
    data.update(overrides)
    return data


def make_case(actor, **overrides: Any):
    return register_case(actor=actor, data=complaint_data(**overrides)).case
