"""The permission matrix test: every API operation and every web view, each role from inside and from
outside the case's department, against `kesu.trust.permission_matrix`. An endpoint or view without a
matrix entry fails.

The same visits look for leaks: every response (JSON, HTML, files) is scanned for the case numbers,
customer names and phone numbers of cases the acting person may not see (a whistle-blowing report,
another department's case, an archived case), and any hit fails — so a new endpoint is checked too."""

from __future__ import annotations

import json
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from kesu.cases.attachments import attach_file
from kesu.cases.models import Case, Status
from kesu.cases.services import register_case
from kesu.org import roles as r
from kesu.org.models import ApiToken
from kesu.trust import permission_matrix as pm
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(32))
# Department scope matters for these roles; the others are company-wide (tried from outside only).
SCOPED = (r.INTAKE, r.HANDLER, r.DEPT_HEAD, r.RISK)


class Denied(Exception):
    pass


# Cases nobody in the matrix's claims/finance departments may see, with names and numbers found nowhere
# else. Their text resembles the main case's (热水器漏水), so lookups by similarity would find them.
HIDDEN = {
    "report": {
        "kind": "report",
        "category": None,
        "description": "热水器漏水事故背后，采购经理收受回扣",
        "customer": {"name": "隐秘举报人", "phone": "13911110001"},
    },
    "other_department": {
        "description": "热水器漏水三次，质量部至今未处理",
        "customer": {"name": "隐秘质量客户", "phone": "13911110002"},
        "external_source": "crm",
        "external_id": "HIDDEN-2",
    },
    "archived": {
        "description": "热水器漏水，已归档的旧案",
        "customer": {"name": "隐秘归档客户", "phone": "13911110003"},
        "client_key": "hidden-archived",
    },
    # A closed case of another department: what the 相似已结案件 panel and the similar-cases API draw from.
    "closed_other": {
        "description": "热水器漏水，质量部已结案",
        "customer": {"name": "隐秘结案客户", "phone": "13911110004"},
        "client_key": "hidden-closed",
    },
}


def _hidden_cases(o) -> dict[str, Case]:
    out = {}
    for key, data in HIDDEN.items():
        case = register_case(actor=o.intake, data=factories.complaint_data(**data)).case
        if key != "report":
            Case.objects.filter(pk=case.pk).update(department=o.quality)
        if key == "archived":
            Case.objects.filter(pk=case.pk).update(status=Status.ARCHIVED)
        if key == "closed_other":
            Case.objects.filter(pk=case.pk).update(
                status=Status.CLOSED, closed_at=timezone.now(), closing_criterion="accepted"
            )
        case.refresh_from_db()
        out[key] = case
    return out


def _leaks(w, role: str, inside: bool, response, asked: str = "") -> list[str]:
    """The secrets of hidden cases found in a response: numbers of cases `role` may not see (per the
    declared matrix), names and phones of cases it may not read (an archived file: the archive keeper).
    What the request itself carried (`asked`, e.g. a phone typed into a lookup) is no leak."""
    if getattr(response, "streaming", False):
        raw = b"".join(response.streaming_content)
    else:
        raw = response.content
    text = raw.decode("utf-8", errors="ignore")
    hits = []
    for key, case in w["hidden"].items():
        whistle = key == "report"
        sees = pm.may_see_case(role, inside=False, whistle=whistle)  # all hidden cases are outside
        reads = sees and (key != "archived" or role == r.ARCHIVIST)
        customer = HIDDEN[key]["customer"]
        secrets = [] if sees else [case.number]
        secrets += [] if reads else [customer["name"], customer["phone"]]
        hits += [f"{key}: {s}" for s in secrets if s in text and s not in asked]
    return hits


@pytest.fixture
def world(org):
    hidden = _hidden_cases(org)
    case = factories.make_case(org.intake)
    Case.objects.filter(pk=case.pk).update(department=org.claims)
    case.refresh_from_db()
    attachment = attach_file(case, org.intake, name="证据.png", content=PNG)
    case.refresh_from_db()
    actors = []
    for role in r.ALL_ROLES:
        scopes = [True, False] if role in SCOPED else [False]
        for inside in scopes:
            dept = org.claims if inside else org.finance
            user = factories.person(f"m_{role}_{'in' if inside else 'out'}", dept, role)
            actors.append((role, inside, user))
    return {"org": org, "case": case, "attachment": attachment, "actors": actors, "hidden": hidden}


def _action_body(action: str, o) -> dict:
    return {
        "mark_invalid": {"reason": "not_specific", "note": "无法核实"},
        "answer_first_contact": {"answer": "整机保修三年。"},
        "assign": {"handler": o.claims_handler.pk},
        "add_note": {"text": "电话联系客户"},
        "request_collaboration": {"department": "FINANCE", "question": "请核实付款记录"},
        "propose_remedy": {"remedy_type": "compensation", "amount": "1500", "description": "赔偿"},
        "reply": {"text": "已为您安排赔偿。"},
        "close": {"criterion": "accepted"},
        "suspend": {"reason": "客户暂无法联系"},
        "follow_up": {"score": 5},
        "reopen": {"reason": "客户再次来电"},
        "regrade": {"level": "urgent", "reason": "再次投诉"},
        "extend_deadline": {"days": 3, "reason": "需要鉴定"},
        "request_special_closure": {"reason": "诉求明显超出损失"},
        "request_archive_access": {"reason": "调阅"},
        "decide_archive_access": {"request_id": 1, "approve": True},
        "answer_collaboration": {"request_id": 1, "answer": "已核实"},
        "decide_panel": {"review_id": 1, "decision": "同意", "minutes": "纪要"},
        "confirm_panel": {"review_id": 1},
        "convene_panel": {"topic": "合议", "participants": [o.handler.pk, o.handler2.pk]},
        "decide_collaboration_request": {"request_id": 1, "approve": True},
        "decide_panel_request": {"review_id": 1, "approve": True},
        "record_preliminary_opinion": {"review_id": 1, "opinion": "倾向于赔付"},
        "propose_accountability": {"person": o.handler.pk, "reason": "超时"},
        "confirm_accountability": {"accountability_id": 1},
        "waive_accountability": {"accountability_id": 1, "reason": "免除"},
        "approve": {"comment": "同意"},
        "reject": {"comment": "不同意"},
        "file_regulator_submission": {"regulator": "国家金融监督管理总局", "contents": "案卷副本"},
        "mark_typical": {"lesson": "先核实再答复"},
        "record_emergency_plan": {"leader": o.supervisor.pk, "measures": "专人跟进", "contacts": "值班电话"},
    }.get(action, {})


def _api_request(client, method, path, key, body, files=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "REMOTE_ADDR": "10.55.0.1"}
    if method == "get":
        return client.get(path, **headers)
    if files is not None:
        return client.post(path, data=files, **headers)
    send = getattr(client, method)  # post, put
    return send(path, data=json.dumps(body), content_type="application/json", **headers)


def _api_call(w, method, template, key):
    o, case = w["org"], w["case"]
    path = (
        template.replace("{number}", case.number)
        .replace("{attachment_id}", str(w["attachment"].pk))
        .replace("{case_id}", str(case.pk))
        .replace("{batch_id}", "999999")
        .replace("{source}", "nope")
        .replace("{code}", "nope")
        .replace("{upload_id}", "999999")
        .replace("{measure_id}", "999999")
    )
    if template == "/api/v1/analytics/compare":
        path += "?period=2026-11"
    body: dict = {}
    files = None
    m = re.fullmatch(r"/api/v1/cases/\{number\}/(\w+)", template)
    if m and m.group(1) in pm.TRANSITIONS:
        body = _action_body(m.group(1), o)
    elif template.endswith(("/attachments", "/imports", "/uploads", "/archive-materials")):
        from django.core.files.uploadedfile import SimpleUploadedFile

        files = {"file": SimpleUploadedFile("e.png", PNG, content_type="image/png"), "source": "nope"}
        if template.endswith("/archive-materials"):
            files["material"] = "lawsuit"
    elif template == "/api/v1/cases":
        # A retry under another department's external id: answered only to those who may read that case.
        body = factories.complaint_data(**HIDDEN["other_department"])
    elif template == "/api/v1/trust/reveal":
        body = {"case": case.number, "field": "phone", "reason": "核实客户身份"}
    elif template == "/api/v1/trust/totp/confirm":
        body = {"code": "123456"}
    elif template == "/api/v1/intake/batch":
        body = {"items": []}
    elif template == "/api/v1/intake/sources":
        body = {"code": "matrix-source", "name": "矩阵"}
    elif template.startswith("/api/v1/intake/uploads/"):
        body = {"source": "nope"}
    elif template.startswith("/api/v1/insight/"):
        body = {"text": "热水器漏水", "case_id": case.pk, "category": "product.defect"}
        if template == "/api/v1/insight/related":  # the words of a hidden case: found only if visible
            body["text"] = HIDDEN["other_department"]["description"]
    return _api_request(Client(), method, path, key, body, files)


def _denied(response, rule: pm.Rule) -> bool:
    status = response.status_code
    if status in (401, 403):
        return True
    if status == 404 and rule.kind == "action":
        # Hidden answers as missing; a sub-record not found after the permission check is no refusal.
        return response.json().get("message") == "案件不存在"
    # A case that exists answers 404 only when it is hidden from the reader (the same answer as a missing
    # case, for reading and acting alike); a signed endpoint answers an
    # unknown source with 404. (After the permission check an action may still find no sub-record: 404.)
    return status == 404 and rule.kind in ("case_read", "case_roles", "signed")


def _api_operations() -> list[tuple[str, str]]:
    from kesu.api import api

    ops = []
    for path, methods in api.get_openapi_schema()["paths"].items():
        for method in methods:
            ops.append((method, path))
    return ops


def test_every_api_operation_and_web_view_has_a_matrix_entry():
    missing = [f"{m.upper()} {p}" for m, p in _api_operations() if f"{m.upper()} {p}" not in pm.API]
    missing += [name for name, _route in _web_views() if name not in pm.WEB]
    assert not missing, f"endpoints without a permission-matrix entry: {missing}"
    declared = {f"{m.upper()} {p}" for m, p in _api_operations()} | {name for name, _ in _web_views()}
    stale = sorted((set(pm.API) | set(pm.WEB)) - declared)
    assert not stale, f"matrix entries for endpoints that no longer exist: {stale}"


def test_api_permission_matrix(world):
    mismatches = []
    keys = {}
    for _role, _inside, user in world["actors"]:
        keys[user.pk] = ApiToken.issue(user, "matrix", scopes=["*"])[1]
    for method, template in _api_operations():
        rule = pm.API[f"{method.upper()} {template}"]
        for role, inside, user in world["actors"]:
            with transaction.atomic():
                response = _api_call(world, method, template, keys[user.pk])
                transaction.set_rollback(True)
            allowed = pm.expected(rule, role, inside)
            got_denied = _denied(response, rule)
            leaks = _leaks(world, role, inside, response)
            if leaks:
                mismatches.append(f"{method.upper()} {template} as {role} ({inside=}) leaks {leaks}")
            if response.status_code >= 500 or allowed == got_denied:
                mismatches.append(
                    f"{method.upper()} {template} as {role} ({'inside' if inside else 'outside'}): "
                    f"expected {'allowed' if allowed else 'denied'}, got {response.status_code} "
                    f"{response.content[:160].decode(errors='replace')}"
                )
    assert not mismatches, "\n".join(mismatches)


def _web_views() -> list[tuple[str, str]]:
    """(namespace:name, route) for every URL of the web UI and the analytics pages."""
    out = []
    for top in get_resolver().url_patterns:
        if isinstance(top, URLResolver) and top.namespace in ("web", "analytics"):
            prefix = str(top.pattern)
            for p in top.url_patterns:
                if isinstance(p, URLPattern) and p.name:
                    out.append((f"{top.namespace}:{p.name}", prefix + str(p.pattern)))
    return out


def _web_path(w, route: str) -> str:
    case = w["case"]
    path = "/" + route
    path = path.replace("<str:number>", case.number).replace("<str:action>", "add_note")
    path = path.replace("<int:attachment_id>", str(w["attachment"].pk)).replace("<int:pk>", "999999")
    if route.startswith("intake/preview/"):
        path += "?phone=" + HIDDEN["report"]["customer"]["phone"]  # the earlier cases of this phone
    return path


POST_VIEWS = {
    "web:case_action",
    "web:logout",
    "web:inbox_read",
    "web:case_reveal",
    "web:archive_access_request",
    "web:queue_bulk",
    "web:view_save",
    "web:view_delete",
    "analytics:measure_approve",
}


def test_web_permission_matrix(world):
    mismatches = []
    views = _web_views()
    assert len(views) > 30
    for name, route in views:
        rule = pm.WEB[name]
        path = _web_path(world, route)
        for role, inside, user in world["actors"]:
            client = Client()
            client.force_login(user)
            with transaction.atomic():
                if name in POST_VIEWS:
                    response = client.post(path, {"text": "记录", "expected_version": world["case"].version})
                else:
                    response = client.get(path)
                transaction.set_rollback(True)
            leaks = _leaks(world, role, inside, response, asked=path)
            if leaks:
                mismatches.append(f"{name} {path} as {role} ({inside=}) leaks {leaks}")
            allowed = pm.expected(rule, role, inside)
            denied = response.status_code in (401, 403) or (
                response.status_code == 404 and rule.kind != "roles"
            )
            if response.status_code >= 500 or allowed == denied:
                mismatches.append(
                    f"{name} {path} as {role} ({'inside' if inside else 'outside'}): "
                    f"expected {'allowed' if allowed else 'denied'}, got {response.status_code}"
                )
    assert not mismatches, "\n".join(mismatches)


def test_whistle_blowing_reports_are_for_risk_only(world):
    o = world["org"]
    report = factories.make_case(o.intake, kind="report")
    for role, inside, user in world["actors"]:
        client = Client()
        key = ApiToken.issue(user, "w", scopes=["*"])[1]
        status = client.get(f"/api/v1/cases/{report.number}", HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        assert (status == 200) == pm.expected(pm.CASE_READ, role, inside, whistle=True), (
            role,
            inside,
            status,
        )
