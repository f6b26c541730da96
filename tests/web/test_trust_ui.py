"""Trust features of the web UI: strict script CSP (no inline scripts or handlers), revealing a masked
field on the case page, TOTP enrolment for administrators."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest

from kesu.trust.models import AuditEntry, TotpDevice
from tests import factories

ROOT = Path(__file__).resolve().parents[2] / "kesu"
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.S | re.I)
PERSON = {"name": "王五", "phone": "13812345678", "address": "上海市浦东新区世纪大道100号"}


def _script_src(csp: str) -> str:
    for part in csp.split(";"):
        part = part.strip()
        if part.startswith("script-src"):
            return part
    return ""


@pytest.mark.parametrize(
    "path", ["/", "/cases/", "/intake/", "/login/", "/portal/", "/admin/", "/admin/auth/user/{pk}/change/"]
)
def test_html_pages_allow_no_inline_scripts(org, client, path):
    """The workbench, the portal and the Django admin (external scripts with data-* only) work under
    `script-src 'self'`: the header has no 'unsafe-inline' and the page has no inline code."""
    if path.startswith("/admin/"):
        from django.contrib.auth import get_user_model

        client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    elif path not in ("/login/", "/portal/"):
        client.force_login(org.admin)
    response = client.get(path.format(pk=org.intake.pk))
    assert response.status_code == 200
    script_src = _script_src(response["Content-Security-Policy"])
    assert script_src == "script-src 'self'"
    html = response.content.decode()
    inline = [body for attrs, body in SCRIPT.findall(html) if body.strip() and "json" not in attrs]
    assert not inline and not HANDLER.search(html)


def _templates() -> list[Path]:
    files = sorted(ROOT.glob("*/templates/**/*.html"))
    assert len(files) > 30
    return files


def test_no_template_has_inline_script_code_or_event_handlers():
    bad = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for attrs, body in SCRIPT.findall(text):
            data_block = 'type="application/json"' in attrs or "application/ld+json" in attrs
            if body.strip() and not data_block:
                bad.append(f"{path.relative_to(ROOT)}: inline <script> with code")
        if HANDLER.search(text):
            bad.append(f"{path.relative_to(ROOT)}: on*= event handler attribute")
        if "javascript:" in text.lower():
            bad.append(f"{path.relative_to(ROOT)}: javascript: URL")
    assert not bad, "\n".join(bad)


def test_the_template_scan_notices_an_inline_handler():
    assert HANDLER.search('<select name="language" onchange="this.form.submit()">')
    assert SCRIPT.findall("<script>alert(1)</script>")[0][1] == "alert(1)"


# --- reveal ----------------------------------------------------------------------------------------


@pytest.fixture
def case(org):
    return factories.make_case(org.intake, customer=dict(PERSON))


def test_reveal_on_the_case_page_needs_a_reason_and_is_audited(org, case, client):
    client.force_login(org.archivist)  # sees masked values, may reveal them
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert PERSON["phone"] not in page and "138****5678" in page
    assert f'action="/cases/{case.number}/reveal/"' in page

    url = f"/cases/{case.number}/reveal/"
    r = client.post(url, {"field": "phone", "reason": ""})
    assert r.status_code == 400
    body = r.content.decode()
    assert PERSON["phone"] not in body and "理由" in body
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()

    r = client.post(url, {"field": "phone", "reason": "客户来电核对身份"})
    assert r.status_code == 200
    body = r.content.decode()
    assert 'id="revealed-phone"' in body and PERSON["phone"] in body
    assert PERSON["address"] not in body  # only the asked field
    entry = AuditEntry.objects.filter(action="pii.reveal").get()
    assert entry.actor_name == "archivist" and entry.target_id == case.number
    assert entry.details == {"field": "phone", "reason": "客户来电核对身份"}
    # shown once: the next visit of the case page is masked again
    assert PERSON["phone"] not in client.get(f"/cases/{case.number}/").content.decode()


def test_reveal_is_refused_to_an_analyst_and_a_get_does_nothing(org, case, client):
    client.force_login(org.analyst)
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert "/reveal/" not in page
    r = client.post(f"/cases/{case.number}/reveal/", {"field": "phone", "reason": "统计分析需要"})
    assert r.status_code == 403 and PERSON["phone"] not in r.content.decode()
    assert AuditEntry.objects.filter(action="pii.reveal_refused", actor_name="analyst").exists()
    client.force_login(org.archivist)
    assert client.get(f"/cases/{case.number}/reveal/").status_code == 405


# --- TOTP --------------------------------------------------------------------------------------------


def test_totp_enrolment_page_for_an_administrator(org, client):
    client.force_login(org.admin)
    page = client.get("/account/totp/")
    assert page.status_code == 200 and "开始绑定" in page.content.decode()
    assert not TotpDevice.objects.filter(user=org.admin).exists()  # a GET creates no secret

    r = client.post("/account/totp/", {"step": "start"})
    device = TotpDevice.objects.get(user=org.admin)
    body = r.content.decode()
    assert r.status_code == 200 and device.secret in body and "otpauth://totp/" in body
    assert not device.confirmed

    r = client.post("/account/totp/", {"step": "confirm", "code": "000000"})
    assert r.status_code == 400
    device.refresh_from_db()
    assert not device.confirmed and device.secret in r.content.decode()

    r = client.post("/account/totp/", {"step": "confirm", "code": pyotp.TOTP(device.secret).now()})
    assert r.status_code == 200 and 'id="totp-status"' in r.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEntry.objects.filter(action="auth.totp_enrolled", actor_name="admin").exists()
    again = client.get("/account/totp/").content.decode()
    assert device.secret not in again  # the secret is not shown again once confirmed
    assert client.post("/account/totp/", {"step": "start"}).status_code == 409


@pytest.mark.parametrize("who", ["supervisor", "analyst", "intake"])
def test_totp_enrolment_page_is_forbidden_to_others(org, client, who):
    client.force_login(getattr(org, who))
    assert client.get("/account/totp/").status_code == 403
    assert client.post("/account/totp/", {"step": "start"}).status_code == 403
    assert not TotpDevice.objects.exists()
