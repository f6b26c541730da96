"""Every screen speaks the user's language: no raw codes in visible text.

On demo data built by the real demo builder (small: cases in every status with the timeline events of
every action, notifications, accountability proposals, generated reports), every web page with a GET
view is opened as each role, in Chinese and in English, and its visible text (`innerText`, what a
reader sees) is searched for code-like tokens: snake_case (`first_contact`), dotted codes
(`claims.delay`), `code:code` (`breach:approval`), `#ref` tokens (`#reopen1`), bracketed keys
(`[headline.count]`) and bare versions (`v15`).
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from kesu.analytics import reports
from kesu.cases.models import Case, Status
from tests.browser.conftest import Session

pytestmark = pytest.mark.slow

CODE_PATTERNS = {
    "snake_case": re.compile(r"(?<![\w@/.-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@])"),
    "dotted code": re.compile(r"(?<![\w@/.-])[a-z][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+(?![\w@(])"),
    "code:code": re.compile(r"(?<![\w/])[a-z][a-z_]+:[a-z][a-z_0-9]+\b"),
    "#ref": re.compile(r"#[a-z][a-z_]*\d*\b"),
    "[key]": re.compile(r"\[[a-z][a-z_.]+\]"),
    "bare version": re.compile(r"(?<![\w.])v\d+\b"),
}
# Tokens that look like codes but are what a reader should see (each with its reason).
ALLOWLIST = {
    "e.g",  # English abbreviation
    "i.e",  # English abbreviation
}
# Addresses and identifiers shown on purpose: e-mail addresses, host names, file names.
SCRUB = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail (masked or not)
    re.compile(r"\b[\w-]+\.(?:pdf|xlsx|html|csv|png|txt|cn|com)\b"),  # file and host names
    re.compile(r"https?://\S+"),
]

ROLES = [
    "admin",
    "gm",
    "manager",
    "supervisor",
    "intake",
    "claims_head",
    "handler",
    "followup",
    "analyst",
    "risk",
    "archivist",
]
# POST-only views (no page of their own) and the language switch.
SKIP_NAMES = {
    "logout",
    "inbox_read",
    "intake_preview",
    "portal_report_status",
    "set_language",
    "queue_bulk",
    "view_save",
    "view_delete",
}


def code_tokens(text: str) -> list[tuple[str, str]]:
    for pattern in SCRUB:
        text = pattern.sub(" ", text)
    found = []
    for kind, pattern in CODE_PATTERNS.items():
        for m in pattern.finditer(text):
            token = m.group(0)
            if token not in ALLOWLIST:
                found.append((kind, token))
    return found


def test_code_tokens_are_recognised():
    text = "状态 accepted 阶段 first_contact 原因 breach:approval 分类 claims.delay #reopen1 结论 [headline.count] v15"
    kinds = {k for k, _ in code_tokens(text)}
    assert kinds == {"snake_case", "code:code", "dotted code", "#ref", "[key]", "bare version"}
    assert code_tokens("处理人 handler@huacheng-demo.cn 下载 月报.pdf，例如 e.g. 第 15 次更新") == []


def _get_urls() -> list[str]:
    """Every parameterless web/analytics URL (the GET views)."""
    out = []

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                if ns in ("admin",) or str(p.pattern).startswith(("api", "i18n")):
                    continue
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if "<" in route or "^" in route or p.name in SKIP_NAMES:
                    continue
                out.append("/" + route)

    walk(get_resolver().url_patterns, "", None)
    return sorted(set(out))


@pytest.fixture
def demo(transactional_db):
    from django.core.cache import cache

    cache.clear()
    call_command("demo_data", cases=45, seed=2025, verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    for kind in ("monthly", "weekly"):
        for fmt in ("html", "pdf"):
            reports.generate(kind, reports.default_period(kind), fmt, actor=None)
    yield
    cache.clear()


def _case_urls() -> list[str]:
    """One case in each status, preferring those with the longest timelines."""
    urls = []
    for status in Status.values:
        case = (
            Case.objects.filter(status=status).order_by("-version").first()
            or Case.objects.filter(status=status).first()
        )
        if case is not None:
            urls.append(f"/cases/{case.number}/")
    return urls


def test_no_raw_codes_on_any_screen(browser, live_server, demo):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__in=ROLES).update()
    urls = _get_urls() + _case_urls()
    assert len(urls) > 25, urls
    problems: dict[str, set[str]] = {}
    for lang in ("zh-hans", "en"):
        for role in ROLES:
            s = Session(browser, live_server.url)
            s.context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
            _login_demo(s, role)
            for url in urls:
                response = s.page.goto(url)
                if response is None or response.status >= 500:
                    problems.setdefault(f"{url} → {response and response.status}", set()).add(role)
                    continue
                ctype = response.headers.get("content-type", "")
                if "html" not in ctype:
                    continue
                for kind, token in code_tokens(s.page.inner_text("body")):
                    problems.setdefault(f"{lang} {url}: {kind} «{token}»", set()).add(role)
            s.close()
    assert not problems, "\n".join(f"{k}  ({', '.join(sorted(v))})" for k, v in sorted(problems.items()))


def _login_demo(s: Session, username: str) -> None:
    from kesu.cases.demo.company import DEMO_PASSWORD

    p = s.page
    p.goto("/login/")
    p.fill("#id_username", username)
    p.fill("#id_password", DEMO_PASSWORD)
    with p.expect_navigation():
        p.click("button[type=submit]")


# Where a name stands alone in the visible text: a table cell, an option, a list item, a label's value.
NAME_SEPARATORS = re.compile(r"[\n\t·|/、，,：:（）()]+")
# Roles whose screens show every kind of name: queues and cases (supervisor), analytics (analyst).
NAME_ROLES = ["supervisor", "analyst"]


def chinese_names_shown(text: str, names: set[str]) -> set[str]:
    """The Chinese names of `names` standing alone somewhere in `text` (free text that mentions one inside
    a sentence — a complaint's description — is not a name shown by the product)."""
    return {part.strip() for part in NAME_SEPARATORS.split(text)} & names


def test_name_finder_sees_names_standing_alone_only():
    names = {"理赔部", "交付运输"}
    assert chinese_names_shown("Claims\t理赔部\nE-mail", names) == {"理赔部"}
    assert chinese_names_shown("Channel: 交付运输 · Handled", names) == {"交付运输"}
    assert chinese_names_shown("已与分公司理赔部沟通，要求加快审核。", names) == set()


def test_english_screens_show_english_names(browser, live_server, demo):
    """In the English UI no category, department or channel that has an English name shows its Chinese one."""
    from kesu.org.models import Department
    from kesu.policy.models import Category, Channel

    names: set[str] = set()
    for model in (Category, Department, Channel):
        for name, name_en in model.objects.exclude(name_en="").values_list("name", "name_en"):
            if name != name_en and re.search(r"[\u4e00-\u9fff]", name):  # "App" is the same in both
                names.add(name)
    assert len(names) > 30, names
    urls = _get_urls() + _case_urls()
    problems: dict[str, set[str]] = {}
    for role in NAME_ROLES:
        s = Session(browser, live_server.url)
        s.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        _login_demo(s, role)
        for url in urls:
            response = s.page.goto(url)
            if response is None or "html" not in response.headers.get("content-type", ""):
                continue
            for name in chinese_names_shown(s.page.inner_text("body"), names):
                problems.setdefault(f"{url}: «{name}»", set()).add(role)
        s.close()
    assert not problems, "\n".join(f"{k}  ({', '.join(sorted(v))})" for k, v in sorted(problems.items()))
