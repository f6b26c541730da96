"""English really works: pages, lifecycle labels and error messages follow the chosen language.

Chinese stays the default (zh-hans); English is chosen with the language switch (Django's
`set_language`), the `django_language` cookie or the browser's Accept-Language.
"""

from __future__ import annotations

import gettext as gettext_module
import json
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from kesu.cases.models import Status
from kesu.cases.transitions import TRANSITIONS
from kesu.org.models import ApiToken
from tests import factories

CJK = re.compile(r"[\u4e00-\u9fff]+")
# Chinese that an English page may legitimately show: the language switch's own name.
ALLOWED_CJK = {"简体中文"}


def page(client: Client, url: str, **headers) -> str:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, (url, r.status_code)
    return r.content.decode()


def stray_chinese(html: str) -> set[str]:
    return set(CJK.findall(html)) - ALLOWED_CJK


def english_client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_the_default_language_is_chinese(client, org):
    html = page(client, "/login/")
    assert 'lang="zh-hans"' in html
    assert "登录客诉管理系统" in html and "用户名" in html
    assert "Log in" not in html


def test_login_page_in_english_from_accept_language(client, org):
    html = page(client, "/login/", accept_language="en")
    assert 'lang="en"' in html
    assert "Log in to the complaint management system" in html and "User name" in html
    assert "Password" in html
    assert stray_chinese(html) == set()


def test_language_switch_turns_the_workbench_english(client, org):
    client.force_login(org.supervisor)
    r = client.post("/i18n/setlang/", {"language": "en", "next": "/cases/"}, follow=True)
    html = r.content.decode()
    assert 'lang="en"' in html
    assert "Case search" in html and "Search" in html and "My cases" in html
    for chinese in ("案件查询", "我的案件", "搜索", "工作台", "退出"):
        assert chinese not in html, chinese


def test_queue_lists_cases_with_english_status_and_level(org):
    factories.make_case(org.intake)
    html = page(english_client(org.supervisor), "/cases/")
    assert "Registered" in html and "Normal" in html
    assert "已登记" not in html and "一般" not in html


def test_intake_form_in_english(org):
    html = page(english_client(org.intake), "/intake/")
    for label in ("Customer name", "Channel", "Complaint details", "Save registration", "Personal injury"):
        assert label in html, label
    for chinese in ("客户姓名", "投诉内容", "保存登记", "涉及人身伤害", "带 * 的为必填项"):
        assert chinese not in html, chinese


def test_case_page_labels_and_actions_follow_the_language(org):
    case = factories.make_case(org.intake)
    url = f"/cases/{case.number}/"
    english = page(english_client(org.intake), url)
    # Status, the available action (a lazy transition label) and the timeline entry, all in English.
    assert "Registered" in english and "Accept" in english and "Register" in english
    assert "Available actions" in english and "Complaint" in english
    for chinese in ("已登记", "受理", "可执行操作", "投诉信息", "各阶段时限"):
        assert chinese not in english, chinese

    # The same process, back in Chinese: the labels were not frozen at import.
    chinese_client = Client()
    chinese_client.force_login(org.intake)
    chinese = page(chinese_client, url)
    assert "已登记" in chinese and "受理" in chinese and "可执行操作" in chinese
    assert "Available actions" not in chinese


def test_transition_labels_are_translated_when_read():
    with translation.override("en"):
        assert str(TRANSITIONS["accept"].label) == "Accept"
        assert str(TRANSITIONS["follow_up"].label) == "Follow-up"
        assert str(Status.SUSPENDED.label) == "Suspended"
    with translation.override("zh-hans"):
        assert str(TRANSITIONS["accept"].label) == "受理"
        assert str(Status.SUSPENDED.label) == "暂结案"


def test_portal_in_english(org):
    client = english_client()
    home = page(client, "/portal/")
    assert "Customer complaints and suggestions" in home and "Check progress" in home
    assert stray_chinese(home) == set()

    form = page(client, "/portal/submit/")
    assert "Your name" in form and "Mobile number" in form and "What happened" in form
    for chinese in ("您的姓名", "手机号码", "事情经过", "提交"):
        assert chinese not in form, chinese


def test_a_refused_action_explains_itself_in_english_on_the_case_page(org):
    case = factories.make_case(org.intake, category=None)
    client = english_client(org.intake)
    r = client.post(f"/cases/{case.number}/act/accept/", {"expected_version": case.version, "category": ""})
    html = r.content.decode()
    assert r.status_code == 422
    assert "Choose a category to accept a complaint" in html
    assert "受理投诉须选择分类" not in html


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({}, "当前状态「已登记」不能执行「结案」"),
        ({"Accept-Language": "en"}, '"Close" is not possible in the current status "Registered"'),
    ],
)
def test_api_errors_are_chinese_unless_the_client_asks_for_english(org, headers, expected):
    case = factories.make_case(org.intake)
    _, key = ApiToken.issue(org.supervisor, "i18n-test")
    r = Client().post(
        f"/api/v1/cases/{case.number}/close",
        data={"criterion": "accepted"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )
    assert r.status_code in (403, 409), r.content.decode()
    assert r.json()["message"] == expected


def test_analytics_dashboard_in_english(org):
    factories.make_case(org.intake)
    html = page(english_client(org.analyst), "/analytics/")
    assert "Analytics" in html and "Complaint trend" in html and "Filter" in html
    for chinese in ("统计分析", "投诉趋势", "筛选", "办结率"):
        assert chinese not in html, chinese


def _po_msgids(path) -> set[str]:
    """The msgids of a .po file (a minimal reader: msgid lines and their continuation lines)."""
    ids, current, in_id = set(), None, False
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("msgid "):
            current, in_id = json.loads(line[6:]), True
        elif in_id and line.startswith('"'):
            current += json.loads(line)
        else:
            if in_id and current:
                ids.add(current)
            in_id = False
    return ids


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (apt-get install gettext)")
def test_every_marked_string_has_an_english_translation(tmp_path, settings, monkeypatch):
    """A string marked for translation but missing from kesu/locale/en would show Chinese in English.
    Fix: makemessages -l en, translate the new entries, compilemessages (see kesu/locale/README.md)."""
    # makemessages writes next to the sources' own locale directory, so extract from a copy.
    src, out = tmp_path / "src", tmp_path / "out"
    base = Path(django_settings.BASE_DIR)
    ignore = shutil.ignore_patterns("locale", "static", "__pycache__", "migrations")
    shutil.copytree(base / "kesu", src / "kesu", ignore=ignore)
    out.mkdir()
    settings.LOCALE_PATHS = [out]
    monkeypatch.chdir(src)
    call_command("makemessages", locale=["en"], verbosity=0)
    extracted = _po_msgids(out / "en" / "LC_MESSAGES" / "django.po")
    mo = base / "kesu" / "locale" / "en" / "LC_MESSAGES" / "django.mo"
    with mo.open("rb") as fh:
        catalog = gettext_module.GNUTranslations(fh)._catalog  # noqa: SLF001
    translated = {k[0] if isinstance(k, tuple) else k for k, v in catalog.items() if v}
    assert len(extracted) > 500
    assert sorted(extracted - translated) == []
