"""The daily desk: one complaint through every hand-off, each recipient finding it in inbox and queue.

The walk counts the clicks and fills a person makes (logins included); README.md ("The daily desk")
quotes the measured count. Screenshots of each role's home page and of the case page at 1366 px and
390 px go to tests/browser/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import F

from kesu.cases.models import ArchiveAccessRequest, Case, FollowUp, PanelReview, Proposal, Status
from kesu.sla.models import StageDeadline
from tests.browser.conftest import PASSWORD, Session
from tests.browser.test_flows import _number_from_url, fill_intake

PHONE = {"width": 390, "height": 844}
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                 && !e.closest('table.list, .table-wrap, .sidebar'))
    .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def fits_the_phone(page) -> None:
    """Nothing widens the page beyond the screen (tables scroll inside themselves)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, (page.url, width, page.evaluate(WIDER_THAN_SCREEN))


class Desk:
    """Logged-in people of the walk, and the number of clicks/fills they made."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.people: dict[str, Session] = {}
        self.actions = 0
        self.logins = 0

    def __call__(self, username: str) -> Session:
        s = self.people.get(username)
        if s is None:
            s = Session(self.browser, self.base_url)
            p = s.page
            p.goto("/login/")
            p.fill("#id_username", username)
            p.fill("#id_password", PASSWORD)
            with p.expect_navigation():
                p.click("button[type=submit]")
            self.actions += 3
            self.logins += 1
            self.people[username] = s
        return s

    def act(self, username: str, number: str, action: str, **fields) -> Session:
        """One action form: open it (unless it is open), fill its fields, submit."""
        s = self(username)
        s.page.goto(f"/cases/{number}/")
        opened = s.page.locator(f"#action-{action}").get_attribute("open") is not None
        self.actions += (0 if opened else 1) + len(fields) + 1
        s.act(number, action, **fields)
        assert not s.page.locator(".alert-error").count(), s.page.inner_text("main")
        return s

    def finds(self, username: str, number: str, queue: str | None, inbox: bool = True) -> Session:
        """The recipient finds the case in the inbox and in their queue. `inbox=False`: work that reaches
        its desk through the queue only (closed cases to visit, cases to archive: no hand-off message)."""
        s = self(username)
        p = s.page
        if inbox:
            p.goto("/inbox/")
            group = p.locator(f'tbody.inbox-group[data-case="{number}"]')
            assert group.count() == 1, f"{username}: {number} not in the inbox"
        if queue:
            p.goto(queue)
            assert number in p.inner_text("#queue-table"), f"{username}: {number} not in {queue}"
        return s

    def close(self):
        for s in self.people.values():
            s.close()


def test_one_complaint_through_every_hand_off(browser, live_server, borg):
    o = borg
    desk = Desk(browser, live_server.url)
    try:
        _walk(desk, o)
    finally:
        desk.close()


def _walk(desk: Desk, o) -> None:
    # intake registers (the form routes it to the quality department)
    p = desk("intake").page
    fill_intake(p, phone="13900002222")
    with p.expect_navigation():
        p.click("#intake-submit")
    desk.actions += 8 + 1
    number = _number_from_url(p.url)
    assert p.inner_text("#case-status") == "已分派"

    # the department head assigns it to a handler; the handler finds it and starts
    desk.finds("quality_head", number, "/queues/department/")
    desk.act("quality_head", number, "assign", handler=str(o.handler.pk))
    desk.finds("handler", number, "/queues/mine/")
    desk.act("handler", number, "start_investigation", note="已电话联系客户")

    # a collaboration question, answered by the other department
    desk.act("handler", number, "request_collaboration", department="FINANCE", question="请核实付款记录")
    desk.finds("finance_handler", number, "/queues/collaboration/")
    desk.act("finance_handler", number, "answer_collaboration", answer="客户已全额付款")
    desk.finds("handler", number, None)

    # a panel: convened, decided, confirmed by its members
    desk.act(
        "handler",
        number,
        "convene_panel",
        topic="赔偿标准",
        participants=[str(o.quality_head.pk), str(o.handler2.pk)],
    )
    desk.finds("handler2", number, "/queues/panels/")
    desk.act("quality_head", number, "decide_panel", minutes="产品缺陷属实", decision="赔偿 1500 元")
    for member in ("quality_head", "handler2"):
        desk.act(member, number, "confirm_panel")
    assert PanelReview.objects.get(case__number=number).state == PanelReview.State.CONFIRMED

    # the remedy and its approvals, step by step
    desk.act(
        "handler",
        number,
        "propose_remedy",
        remedy_type="compensation",
        amount="1500",
        description="赔偿 1500 元",
    )
    desk.finds("supervisor", number, "/queues/approvals/")
    desk.act("supervisor", number, "approve", comment="同意")
    # the next step is the role the policy's approval table names for this amount
    proposal = Proposal.objects.get(case__number=number)
    if proposal.state != Proposal.State.APPROVED:
        role = proposal.required_roles[len(proposal.steps.all())]
        approver = {"cs_manager": "manager", "general_manager": "gm", "dept_head": "quality_head"}[role]
        desk.finds(approver, number, "/queues/approvals/")
        desk.act(approver, number, "approve", comment="同意")
    assert Proposal.objects.get(case__number=number).state == Proposal.State.APPROVED

    # reply and close; after the reply the case no longer says 待答复
    s = desk.act("handler", number, "reply", method="phone", text="已告知赔偿方案")
    assert s.page.inner_text("#case-status") == "已答复，待结案"
    desk.act("handler", number, "close", criterion="accepted")

    # an unsatisfied follow-up reopens it; the handler works it again and closes it
    _days_pass_since_closing(number, 5)  # the visit is on day 5 to 7 after closing (001 篇9)
    desk.finds("followup", number, "/queues/follow-ups/", inbox=False)
    desk.act("followup", number, "follow_up", score="2", comment="赔款未到账")
    assert Case.objects.get(number=number).status == Status.INVESTIGATING
    desk.finds("handler", number, "/queues/mine/")
    desk.act(
        "handler", number, "propose_remedy", remedy_type="explanation", amount="0", description="赔款已补发"
    )
    desk.act("handler", number, "reply", method="phone", text="赔款已到账")
    desk.act("handler", number, "close", criterion="accepted")

    # the second visit is satisfied: no follow-up form any more
    _days_pass_since_closing(number, 5)
    desk.finds("followup", number, "/queues/follow-ups/", inbox=False)
    s = desk.act("followup", number, "follow_up", score="5", comment="满意")
    assert s.page.locator("#action-follow_up").count() == 0
    # the case page at 1366 px and at 390 px
    s.shot("desk_case_1366", full_page=True)
    s.page.set_viewport_size(PHONE)
    s.page.reload()
    fits_the_phone(s.page)
    s.shot("desk_case_390", full_page=True)
    s.page.set_viewport_size({"width": 1366, "height": 768})

    # the archivist archives it (their 待归档 queue)
    desk.finds("archivist", number, "/queues/to-archive/", inbox=False)
    desk.act("archivist", number, "archive")
    assert Case.objects.get(number=number).status == Status.ARCHIVED

    # a colleague asks for access from the 403 page; the archivist grants it; the colleague reads it
    c = desk("handler2").page
    response = c.goto(f"/cases/{number}/")
    assert response.status == 403
    c.fill("#id_archive_reason", "核对赔付口径")
    with c.expect_navigation():
        c.click(".archive-access-form button[type=submit]")
    desk.actions += 2
    desk.finds("archivist", number, "/queues/archive-access/")
    request = ArchiveAccessRequest.objects.get(case__number=number)
    desk.act("archivist", number, "decide_archive_access", request_id=str(request.pk), approve="1")
    desk.finds("handler2", number, None)
    c.goto(f"/cases/{number}/")
    assert re.search(r"有效期至 \d{4}-\d{2}-\d{2} \d{2}:\d{2}", c.inner_text("#archive-access"))

    # each role's home page, on a desk and on a phone
    for username, s in desk.people.items():
        s.page.goto("/")
        s.shot(f"desk_home_{username}_1366")
        s.page.set_viewport_size(PHONE)
        s.page.goto("/queues/mine/")
        fits_the_phone(s.page)
        s.page.goto("/")
        s.shot(f"desk_home_{username}_390")
        s.page.set_viewport_size({"width": 1366, "height": 768})

    print(f"\nthe daily desk: {desk.actions} clicks and fills, {desk.logins} logins")
    # README.md quotes this number; more means a step got longer.
    assert desk.actions <= 95, desk.actions


def _days_pass_since_closing(number: str, days: int) -> None:
    """Time passes for the follow-up window: the closing (and its follow-up deadline) move into the past,
    as if the agent opened the queue `days` days later. The server's clock is the real one."""
    shift = dt.timedelta(days=days)
    case = Case.objects.get(number=number)
    Case.objects.filter(pk=case.pk).update(closed_at=F("closed_at") - shift)
    StageDeadline.objects.filter(case=case, stage="follow_up", state="open").update(
        starts_at=F("starts_at") - shift, due_at=F("due_at") - shift
    )
    # earlier visits happened before this closing
    FollowUp.objects.filter(case=case).update(contacted_at=F("contacted_at") - shift)
