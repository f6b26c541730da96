"""Text intelligence in the browser (issue 20): the 相似已结案件 panel with its copy-to-draft on the case
page, and the escalation-risk highlighting with the one-click flag proposal at intake."""

from __future__ import annotations

from kesu.cases.models import CaseEvent, Status
from tests import factories
from tests.cases.helpers import Walk


def _case(o, name: str, phone: str, text: str, *, reply: str | None = None):
    case = factories.make_case(o.intake, description=text, customer={"name": name, "phone": phone})
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, department="QUALITY", handler=o.handler.pk)
    walk("start_investigation", o.handler, contacted_customer=True)
    walk("propose_remedy", o.handler, remedy_type="explanation", amount="0", description="换新机")
    if reply:
        walk("reply", o.handler, text=reply)
        walk("close", o.handler, criterion="accepted", expect=Status.CLOSED)
    case.refresh_from_db()
    return case


def test_similar_cases_panel_and_copy_to_draft(session, borg):
    o = borg
    past = _case(
        o,
        "李四",
        "13912345678",
        "热水器刚装好三天就漏水，地板被泡",
        reply="尊敬的李四：我们已为您更换新机，并承担地板维修费用。",
    )
    case = _case(o, "王五", "13987654321", "热水器用了三天就漏水，地板泡坏了，要求换新")
    handler = session("handler")
    p = handler.page
    p.goto(f"/cases/{case.number}/")
    box = p.locator("#similar-cases")
    assert "相似已结案件" in box.inner_text()
    item = box.locator(f'.similar-case[data-case="{past.number}"]')
    assert "更换新机" in item.inner_text()
    p.locator("#reply-text").fill("")
    item.locator("button.use-draft").click()
    draft = p.locator("#reply-text").input_value()
    assert "更换新机" in draft and "王五" in draft and "李四" not in draft
    assert p.locator("#action-reply").get_attribute("open") is not None
    handler.shot("similar_cases_draft", full_page=True)
    # a draft only: nothing was sent
    assert not CaseEvent.objects.filter(case=case, action="reply").exists()


def test_intake_highlights_escalation_phrases_and_applies_the_proposed_flags(session, borg):
    intake = session("intake")
    p = intake.page
    p.goto("/intake/")
    p.fill("#id_phone", "13900003333")
    p.fill("#id_description", "热水器漏水两周没人管，再不处理我就找媒体曝光，已咨询律师。")
    p.wait_for_selector("#risk-text mark.risk-mark")
    marks = p.locator("#risk-text mark.risk-mark").all_inner_texts()
    assert "媒体" in marks and "律师" in marks, marks
    assert "媒体介入" in p.inner_text("#risk-flags") and "律师介入" in p.inner_text("#risk-flags")
    assert p.inner_text("#risk-level") == "重大"
    assert not p.locator("input[name=flags][value=media]").is_checked()  # proposed, not applied
    p.click("#risk-apply")
    assert p.locator("input[name=flags][value=media]").is_checked()
    assert p.locator("input[name=flags][value=lawyer]").is_checked()
    # the level preview follows the confirmed flags
    p.wait_for_selector("#preview-level:has-text('重大')")
    intake.shot("intake_risk", full_page=True)
    # the check button works on a text without such phrases too
    p.fill("#id_description", "热水器漏水，请尽快上门。")
    p.click("#risk-check")
    p.wait_for_selector("#risk-none", state="visible")
