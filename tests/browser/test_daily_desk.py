"""The daily desk: one complaint through every hand-off, each recipient finding it in inbox and queue.

The walk counts the clicks and fills a person makes (logins included); README.md ("The daily desk")
quotes the measured count. Screenshots of each role's home page and of the case page at 1366 px and
390 px go to tests/browser/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import F

from kesu.cases.models import Case, FollowUp, PanelReview, Proposal, Status
from kesu.sla.models import StageDeadline
from kesu.web.models import ReplyTemplate
from tests.browser.conftest import PASSWORD, Session
from tests.browser.test_flows import _number_from_url

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
    """Logged-in people of the walk, and the number of clicks/fills they made.

    Counted: each fill or pick of a field, each click on a form's summary or button, and a login (3).
    Not counted, as in the earlier walks: following a link (the inbox or queue row to the case page).
    `moves` counts the lifecycle actions done (a reply and close from one form are two)."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.people: dict[str, Session] = {}
        self.actions = 0
        self.logins = 0
        self.moves = 0
        self.log: list[tuple[str, str, int]] = []
        # the case link each person last found in their inbox or queue (it names the move to make)
        self.via: dict[str, str] = {}

    def count(self, who: str, what: str, n: int, moves: int = 1) -> None:
        self.actions += n
        self.moves += moves
        self.log.append((who, what, n))

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
            self.count(username, "login", 3, moves=0)
            self.logins += 1
            self.people[username] = s
        return s

    def _open(self, username: str, number: str, action: str):
        """The case page as the person reaches it (the link they found, else the case's own page), and
        the action's form, unfolded by a click when it is not open already."""
        s = self(username)
        p = s.page
        p.goto(self.via.pop(username, f"/cases/{number}/"))
        details = p.locator(f"#action-{action}")
        opened = details.get_attribute("open") is not None
        if not opened:
            details.locator("summary").click()
        return s, details, 0 if opened else 1

    def act(self, username: str, number: str, action: str, moves: int = 1, **fields) -> Session:
        """One action form: open it (unless it is open), change the fields that need it, submit."""
        s, details, clicks = self._open(username, number, action)
        p = s.page
        for name, value in fields.items():
            el = p.locator(f"#{action}-{name}")
            kind = el.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
            if kind.endswith("select-multiple"):
                el.select_option(value)
            else:
                # a fill that changes nothing is no work: the walk passes only what a person must change
                assert el.input_value() != str(value), f"{action}.{name} is already {value!r}"
                if kind.startswith("select"):
                    el.select_option(str(value))
                else:
                    el.fill(str(value))
        with p.expect_navigation():
            details.locator(f"button[data-action={action}]").click()
        assert not p.locator(".alert-error").count(), p.inner_text("main")
        self.count(username, action, clicks + len(fields) + 1, moves)
        return s

    def quick(self, username: str, number: str, action: str, n: int = 1) -> Session:
        """A one-click variant of an action form (the form's n-th quick button)."""
        s, details, clicks = self._open(username, number, action)
        with s.page.expect_navigation():
            details.locator(f"button[data-quick={action}-{n}]").click()
        assert not s.page.locator(".alert-error").count(), s.page.inner_text("main")
        self.count(username, f"{action} (quick)", clicks + 1)
        return s

    def finds(self, username: str, number: str, queue: str | None, inbox: bool = True) -> Session:
        """The recipient finds the case in the inbox and in their queue, and follows the link (to the
        case page with the form of their move open). `inbox=False`: work that reaches its desk through
        the queue only (closed cases to visit, cases to archive: no hand-off message)."""
        s = self(username)
        p = s.page
        if inbox:
            p.goto("/inbox/")
            group = p.locator(f'tbody.inbox-group[data-case="{number}"]')
            assert group.count() == 1, f"{username}: {number} not in the inbox"
            self.via[username] = group.locator("a.case-link").get_attribute("href")
        if queue:
            p.goto(queue)
            assert number in p.inner_text("#queue-table"), f"{username}: {number} not in {queue}"
            link = p.locator(f'#queue-table tr[data-case="{number}"] a.case-link')
            if "act=" in (link.get_attribute("href") or "") or username not in self.via:
                self.via[username] = link.get_attribute("href")
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
    _reply_template_in_place()
    # intake registers (the form routes it to the quality department); channel 电话 and type 投诉 are
    # the form's defaults, so the agent types the caller's details and the complaint
    p = desk("intake").page
    p.goto("/intake/")
    p.fill("#id_phone", "13900002222")
    p.fill("#id_name", "王先生")
    p.select_option("#id_category", "product.defect")
    p.fill("#id_description", "热水器安装三天后漏水，地板被泡坏，要求上门处理。")
    p.fill("#id_demands", "更换热水器并赔偿地板损失")
    p.fill("#id_claimed_amount", "5000")
    with p.expect_navigation():
        p.click("#intake-submit")
    desk.count("intake", "register", 6 + 1)
    number = _number_from_url(p.url)
    assert p.inner_text("#case-status") == "已分派"

    # the department head assigns it to the suggested handler (the least loaded); the handler starts
    desk.finds("quality_head", number, "/queues/department/")
    desk.act("quality_head", number, "assign")
    assert Case.objects.get(number=number).handler_id == o.handler.pk
    desk.finds("handler", number, "/queues/mine/")
    # it starts with a call to the customer and a question to the finance department, in one form
    desk.act(
        "handler",
        number,
        "start_investigation",
        moves=2,
        note="已电话联系客户",
        collab_department="FINANCE",
        collab_question="请核实付款记录",
    )
    assert Case.objects.get(number=number).collaborations.count() == 1
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
    desk.finds("quality_head", number, "/queues/panels/")
    desk.act("quality_head", number, "decide_panel", minutes="产品缺陷属实", decision="赔偿 1500 元")
    for member in ("quality_head", "handler2"):
        desk.finds(member, number, "/queues/panels/")
        desk.act(member, number, "confirm_panel")
    assert PanelReview.objects.get(case__number=number).state == PanelReview.State.CONFIRMED

    # the remedy carries out the panel's decision (its text, remedy and amount are the form's draft)
    desk.finds("handler", number, None)
    desk.act("handler", number, "propose_remedy")
    proposal = Proposal.objects.get(case__number=number)
    assert (proposal.remedy_type, proposal.amount) == ("compensation", 1500)
    # the approvals, step by step, each with the default opinion 同意
    desk.finds("supervisor", number, "/queues/approvals/")
    desk.act("supervisor", number, "approve")
    # the next step is the role the policy's approval table names for this amount
    proposal = Proposal.objects.get(case__number=number)
    if proposal.state != Proposal.State.APPROVED:
        role = proposal.required_roles[len(proposal.steps.all())]
        approver = {"cs_manager": "manager", "general_manager": "gm", "dept_head": "quality_head"}[role]
        desk.finds(approver, number, "/queues/approvals/")
        desk.act(approver, number, "approve")
    assert Proposal.objects.get(case__number=number).state == Proposal.State.APPROVED
    assert Proposal.objects.get(case__number=number).steps.first().comment == "同意"

    # reply (the template's draft, by phone as the complaint came) and close in one form
    desk.finds("handler", number, None)
    s = desk.act("handler", number, "reply", moves=2, close_criterion="accepted")
    assert s.page.inner_text("#case-status") == "已结案"
    assert "赔偿" in Case.objects.get(number=number).events.get(action="reply").payload["text"]

    # an unsatisfied follow-up reopens it; the handler works it again and closes it
    _days_pass_since_closing(number, 5)  # the visit is on day 5 to 7 after closing (001 篇9)
    desk.finds("followup", number, "/queues/follow-ups/", inbox=False)
    desk.act("followup", number, "follow_up", score="2", comment="赔款未到账")
    assert Case.objects.get(number=number).status == Status.INVESTIGATING
    desk.finds("handler", number, "/queues/mine/")
    desk.act("handler", number, "propose_remedy", remedy_type="explanation", description="赔款已补发")
    desk.act("handler", number, "reply", moves=2, text="赔款已补发到账，请查收。", close_criterion="accepted")
    assert Case.objects.get(number=number).status == Status.CLOSED

    # the second visit is satisfied (one click): no follow-up form any more
    _days_pass_since_closing(number, 5)
    desk.finds("followup", number, "/queues/follow-ups/", inbox=False)
    s = desk.quick("followup", number, "follow_up")
    assert s.page.locator("#action-follow_up").count() == 0
    assert FollowUp.objects.filter(case__number=number, satisfied=True).count() == 1
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
    desk.count("handler2", "request_archive_access", 2)
    desk.finds("archivist", number, "/queues/archive-access/")
    desk.quick("archivist", number, "decide_archive_access")  # 批准（7 天）
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

    for who, what, n in desk.log:
        print(f"  {who:16} {what:28} {n}")
    print(
        f"\nthe daily desk: {desk.actions} clicks and fills, {desk.logins} logins, {desk.moves} actions"
        f" ({desk.actions / desk.moves:.2f} per action)"
    )
    # README.md quotes these numbers; more means a step got longer.
    assert desk.actions <= 65, desk.actions


def _reply_template_in_place() -> None:
    """The administrators' reply template for complaints (seeded by a migration; a transactional test
    database may have been emptied by an earlier test)."""
    ReplyTemplate.objects.get_or_create(
        name="投诉处理结果告知",
        defaults={
            "purpose": ReplyTemplate.Purpose.REPLY,
            "kind": "complaint",
            "body": "尊敬的{客户姓名}：\n关于您的投诉（案件编号 {案件编号}），经调查核实，我们决定采取以下处理方式："
            "{处理方式}。相关事项将于 {承诺日期} 前办结。{救济途径}",
        },
    )


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
