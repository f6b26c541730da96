"""Text intelligence where the handler works (issue 20): the 相似已结案件 panel on the case page (only cases
the viewer may see; a past reply copied as a draft filled in for this case) and the escalation-risk check
of the intake form."""

from __future__ import annotations

import html as htmllib
import json
import re

import pytest

from kesu.cases.models import Case, Status
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def closed(o, handler, department: str, name: str, text: str, reply: str):
    case = factories.make_case(o.intake, description=text, customer={"name": name, "phone": "13912345678"})
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, department=department, handler=handler.pk)
    walk("start_investigation", handler, contacted_customer=True)
    walk("propose_remedy", handler, remedy_type="explanation", amount="0", description="换新机")
    walk("reply", handler, text=reply)
    walk("close", handler, criterion="accepted", expect=Status.CLOSED)
    case.refresh_from_db()
    return case


def open_case(o, handler, department: str, *, reply_ready: bool = True):
    case = factories.make_case(
        o.intake,
        description="热水器用了三天就漏水，地板泡坏了，要求换新",
        customer={"name": "王五", "phone": "13987654321"},
    )
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, department=department, handler=handler.pk)
    walk("start_investigation", handler, contacted_customer=True)
    if reply_ready:
        walk("propose_remedy", handler, remedy_type="explanation", amount="0", description="换新机")
    case.refresh_from_db()
    return case


def panel(client, case) -> str:
    """The panel as the browser ends up showing it: the page holds a placeholder that fetches it after
    the page (htmx `load`), from the URL the placeholder names."""
    page = client.get(f"/cases/{case.number}/").content.decode()
    if 'id="similar-cases"' not in page:
        return ""
    url = re.search(r'id="similar-cases" hx-get="([^"]+)" hx-trigger="load"', page).group(1)
    assert url == f"/cases/{case.number}/similar/"
    part = client.get(url).content.decode()
    part = part[part.index('id="similar-cases"') :]
    return part[: part.index("</section>")]


@pytest.fixture
def past(org):
    return {
        "quality": closed(
            org,
            org.handler,
            "QUALITY",
            "李四",
            "热水器刚装好三天就漏水，地板被泡",
            "尊敬的李四：我们已为您更换新机，并承担地板维修费用。",
        ),
        "finance": closed(
            org,
            org.finance_handler,
            "FINANCE",
            "赵六",
            "热水器三天漏水，地板泡坏",
            "尊敬的赵六：财务部已退款。",
        ),
    }


def test_the_panel_lists_similar_closed_cases_with_how_they_ended(client, org, past):
    case = open_case(org, org.handler, "QUALITY")
    client.force_login(org.handler)
    box = panel(client, case)
    assert "相似已结案件" in box
    assert past["quality"].number in box
    assert "解释说明" in box and "更换新机" in box  # the remedy and the reply
    assert "客户接受" in box or "结案" in box  # the outcome by its name, not its key
    assert "accepted" not in re.sub(r"<[^>]+>", " ", box)


def test_a_colleague_without_access_never_sees_the_case_in_the_panel(client, org, past):
    mine = open_case(org, org.handler, "QUALITY")
    client.force_login(org.handler)
    box = panel(client, mine)
    assert past["quality"].number in box
    assert past["finance"].number not in box and "赵六" not in box and "财务部已退款" not in box
    theirs = open_case(org, org.finance_handler, "FINANCE")
    client.force_login(org.finance_handler)
    box = panel(client, theirs)
    assert past["finance"].number in box
    assert past["quality"].number not in box and "李四" not in box and "更换新机" not in box
    # a company-wide role sees both
    client.force_login(org.supervisor)
    box = panel(client, mine)
    assert past["quality"].number in box and past["finance"].number in box


def test_use_as_draft_carries_the_past_reply_filled_in_for_this_customer(client, org, past):
    case = open_case(org, org.handler, "QUALITY")
    client.force_login(org.handler)
    box = panel(client, case)
    drafts = [
        htmllib.unescape(t) for t in re.findall(r'data-draft-target="reply-text" data-text="([^"]*)"', box)
    ]
    assert drafts and "更换新机" in drafts[0]
    assert "李四" not in drafts[0] and "王五" in drafts[0]  # the earlier customer's name is not copied
    assert "用作答复草稿" in box
    # before the reply stage there is no reply form: the cases are shown, without the copy button
    early = open_case(org, org.handler, "QUALITY", reply_ready=False)
    box = panel(client, early)
    assert past["quality"].number in box and "用作答复草稿" not in box


def test_no_panel_on_a_finished_case(client, org, past):
    client.force_login(org.handler)
    assert panel(client, past["quality"]) == ""


def test_the_intake_risk_check_finds_the_phrase_and_proposes_the_flags(client, org):
    client.force_login(org.intake)
    text = "再不处理我就找媒体曝光，已咨询律师。"
    r = client.post("/intake/risk/", {"text": text})
    assert r.status_code == 200
    data = json.loads(r.content)
    phrases = {s["phrase"]: s for s in data["signals"]}
    assert "媒体" in phrases and "律师" in phrases
    for s in data["signals"]:
        assert text[s["start"] : s["end"]] == s["phrase"]
    assert data["proposed_flags"] == ["lawyer", "media"]
    assert data["proposed_level"] == "major" and data["proposed_level_label"] == "重大"
    assert data["flag_labels"]["media"] == "媒体介入"
    assert json.loads(client.post("/intake/risk/", {"text": "热水器漏水"}).content)["signals"] == []


def test_the_intake_risk_check_is_for_those_who_register(client, org):
    client.force_login(org.analyst)
    assert client.post("/intake/risk/", {"text": "找媒体曝光"}).status_code == 403


def test_the_intake_form_has_the_risk_panel(client, org):
    client.force_login(org.intake)
    page = client.get("/intake/").content.decode()
    assert 'id="risk-panel"' in page and 'data-risk-url="/intake/risk/"' in page
    assert Case.objects.count() == 0
