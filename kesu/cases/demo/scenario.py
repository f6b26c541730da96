"""One complaint's story: the scenario that walks a registered case through its lifecycle in the past.

Each step goes through `kesu.cases.walk.Walk` (so through `perform`) at the walker's clock; a case
stops where its story says (some recent cases stall in an open status) or where the next step would
happen after now.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from kesu.cases.demo.company import DemoOrg
from kesu.cases.demo.plans import SHANGHAI, Plan
from kesu.cases.demo.texts import CATEGORY_TEXTS, NOTES, REPLIES
from kesu.cases.walk import Walk
from kesu.org import roles as R
from kesu.policy.models import Category
from kesu.policy.selectors import rules_for


class Stop(Exception):
    """The next step would happen after now (or the case stalls there): the case stays where it is."""


class ScenarioWalker:
    """Walks one case through its lifecycle with times in the past: a `Walk` with a clock."""

    def __init__(self, case, plan: Plan, org: DemoOrg, rng: random.Random, now: dt.datetime):
        self.case, self.plan, self.org, self.rng, self.now = case, plan, org, rng, now
        self.t = case.events.get(seq=1).created_at
        self.walk = Walk(case)

    def later(self, minutes: float = 0, hours: float = 0, days: float = 0, office: bool = True) -> None:
        """Move the clock on; staff act in office hours (08:30–19:30 Beijing time)."""
        self.t = self.t + dt.timedelta(minutes=minutes, hours=hours, days=days)
        if office:
            local = self.t.astimezone(SHANGHAI)
            minute_of_day = local.hour * 60 + local.minute
            if not 510 <= minute_of_day <= 1170:
                next_day = local if minute_of_day < 510 else local + dt.timedelta(days=1)
                local = next_day.replace(hour=8, minute=30, second=0) + dt.timedelta(
                    minutes=self.rng.uniform(0, 150)
                )
                self.t = local.astimezone(dt.UTC)
        if self.t > self.now:
            raise Stop

    def act(self, action: str, actor, **data):
        return self.walk(action, actor, now=self.t, **data)

    def u(self, username: str):
        return self.org.users[username]


_ROUTES: dict[str, str] = {}


def _route(plan: Plan, category: str, org: DemoOrg, rng: random.Random) -> str:

    if category not in _ROUTES:
        _ROUTES[category] = (
            Category.objects.filter(code=category).values_list("department_code", flat=True).first()
            or "SERVICE"
        )
    code = _ROUTES[category]
    branch = {"华东": "EAST", "华南": "SOUTH", "华北": "NORTH"}[plan.region]
    if code in ("CLAIMS", "SERVICE") and rng.random() < 0.65:
        return f"{branch}-{code}"
    return code


def play(w: ScenarioWalker) -> None:
    """Play the case's story: raises Stop where the case stays (a stall, or a step after now)."""
    case, plan, rng, org = w.case, w.plan, w.rng, w.org
    age_days = (w.now - plan.received_at).total_seconds() / 86400
    # Recent cases sometimes stall in an open status (so every queue has something in it).
    stall = (
        rng.choice(
            ["accept", "assign", "start", "start", "propose", "propose", "propose", "approve", "reply"]
        )
        if (age_days < 45 and rng.random() < 0.55) or (age_days < 120 and rng.random() < 0.04)
        else None
    )
    intake = w.u(plan.intake)
    kind = plan.data.get("kind", "complaint")
    is_report = kind == "report"

    if stall == "accept":
        raise Stop
    w.later(minutes=rng.uniform(5, 90))
    if kind in ("consultation", "query", "suggestion"):
        answers = {
            "consultation": "已向客户详细解释条款规定和办理流程，客户表示清楚。",
            "query": "已为客户查询并告知结果。",
            "suggestion": "感谢建议，已记录并转相关部门研究。",
        }
        w.act("answer_first_contact", intake, answer=answers[kind])
        _maybe_archive(w)
        return
    if not is_report and rng.random() < 0.04:
        reason = rng.choice(["not_specific", "no_contact", "out_of_remit", "anonymous"])
        w.act("mark_invalid", intake, reason=reason, note="经核实不符合有效投诉条件")
        _maybe_archive(w)
        return

    acceptor = w.u("risk") if is_report else intake
    accept_data = {}
    if plan.data.get("business_type"):
        accept_data["business_type"] = plan.data["business_type"]
    w.act("accept", acceptor, **accept_data)
    if stall == "assign":
        raise Stop
    w.later(minutes=rng.uniform(5, 50))
    category = case.category.code if case.category else "other.misc"
    dept_code = "RISK" if is_report else _route(plan, category, org, rng)
    handler = rng.choice(org.handlers_by_dept.get(dept_code) or org.handlers_by_dept["SERVICE"])
    if is_report:
        handler = w.u("risk2")
    w.act("assign", acceptor, department=dept_code, handler=handler.pk)
    if stall == "start":
        raise Stop
    w.later(hours=rng.uniform(0.3, 5))
    w.act("start_investigation", handler, contacted_customer=not case.is_anonymous, note=rng.choice(NOTES))
    head = org.heads_by_dept.get(dept_code, w.u("supervisor"))
    if not is_report and case.level == "normal" and rng.random() < 0.02:
        w.later(minutes=rng.uniform(10, 120))
        w.act("regrade", w.u("supervisor"), level="urgent", reason="客户情绪激动，表示将向监管部门和媒体反映")
    _emergency_plan(w, handler, head)
    if rng.random() < 0.3:
        w.later(hours=rng.uniform(1, 20))
        w.act("add_note", handler, text=rng.choice(NOTES), contacted_customer=not case.is_anonymous)

    if not is_report and rng.random() < 0.12:
        w.later(hours=rng.uniform(2, 30))
        to = rng.choice([c for c in ("FINANCE", "LEGAL", "SALES", "OPERATIONS") if c != dept_code])
        ev = w.act(
            "request_collaboration",
            handler,
            department=to,
            question=rng.choice(
                [
                    "请协助核实该客户的缴费和退费记录。",
                    "请法律事务部就条款解释出具意见。",
                    "请提供该业务员的销售过程记录。",
                    "请核实保单承保及保全操作记录。",
                ]
            ),
        )
        if ev.payload.get("awaiting_approval"):
            # The supervisor approves the hand-over first where the rules say so (003 恒康天安 第六条(四)).
            w.later(hours=rng.uniform(0.5, 6))
            w.act(
                "decide_collaboration_request",
                w.u("supervisor"),
                request_id=ev.payload["request_id"],
                approve=True,
                note="同意协办",
            )
        w.later(days=rng.uniform(0.5, 6))
        w.act(
            "answer_collaboration",
            rng.choice(org.handlers_by_dept[to]),
            request_id=ev.payload["request_id"],
            answer="已核实，相关记录见附件说明，情况属实。",
        )

    if not is_report and rng.random() < 0.04:
        # 暂结案: the customer cannot be reached or waits for a third party (e.g. a court ruling).
        w.later(days=rng.uniform(1, 5))
        w.act(
            "suspend",
            handler,
            reason=rng.choice(["客户暂时联系不上", "等待法院判决结果", "等待第三方鉴定结论"]),
        )
        limit = w.t + dt.timedelta(days=92)
        if limit > w.now and rng.random() < 0.6:
            raise Stop  # still suspended
        if rng.random() < 0.5 or limit > w.now:
            w.later(days=rng.uniform(5, 40))
            w.act("resume", handler, note="客户已恢复联系，继续处理")
        else:
            w.t = limit + dt.timedelta(hours=rng.uniform(1, 30))
            if w.t > w.now:
                raise Stop
            w.act("expire_suspension", None)
            _maybe_archive(w)
            return

    if not is_report and rng.random() < 0.015:
        w.later(days=rng.uniform(1, 4))
        w.act("request_special_closure", handler, reason="客户诉求远超实际损失，且多次以投诉要挟获取额外利益")
        for role in list(case.proposals.order_by("-pk").first().required_roles):
            w.later(hours=rng.uniform(2, 20))
            w.act("approve", _approver(org, role, rng), comment="同意特殊结案")
        _maybe_archive(w)
        return

    rounds = 0
    while True:
        rounds += 1
        _resolve(w, handler, head, dept_code, stall if rounds == 1 else None)
        w.later(days=rng.uniform(5, 8))
        if kind not in ("complaint", "fault"):
            break
        follower = w.u(rng.choice(["followup", "followup2"]))
        score = (
            rng.choices([5, 4, 3, 2, 1], weights=[40, 30, 15, 10, 5])[0]
            if rounds == 1
            else rng.choice([3, 4, 4, 5])
        )
        ev = w.act(
            "follow_up",
            follower,
            score=score,
            comment={5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意，认为赔付偏低", 1: "非常不满意"}[
                score
            ],
        )
        if ev.payload.get("satisfied") or rounds >= 2:
            break
        w.later(hours=rng.uniform(1, 24))
    _maybe_archive(w)


def _emergency_plan(w: ScenarioWalker, handler, head) -> None:
    """A crisis complaint gets its emergency plan when the investigation starts (000 第2篇 第六条一(一));
    its closing is refused without one (`emergency_plan.required_levels`)."""
    required = rules_for(w.case.policy_id).section("emergency_plan").get("required_levels", [])
    if w.case.level not in required:
        return
    w.later(minutes=w.rng.uniform(10, 90))
    w.act(
        "record_emergency_plan",
        handler,
        leader=w.u("manager").pk,
        measures="成立专项小组，当日联系客户说明处理进度；统一对外口径；每日向客户服务部经理报告进展。",
        contacts=f"{head.get_full_name() or head.username}（部门负责人）；客户服务部经理",
    )


def _approver(org: DemoOrg, role: str, rng: random.Random):
    return {
        R.SUPERVISOR: lambda: org.users[rng.choice(["supervisor", "supervisor2"])],
        R.CS_MANAGER: lambda: org.users["manager"],
        R.GENERAL_MANAGER: lambda: org.users["gm"],
    }.get(role, lambda: org.users["supervisor"])()


def _resolve(w: ScenarioWalker, handler, head, dept_code: str, stall: str | None) -> None:
    """From investigating to closed: (panel review), proposal, approvals, reply, close."""
    case, rng, org = w.case, w.rng, w.org
    if (
        case.level in ("major", "crisis")
        and not case.panel_reviews.filter(state__in=["decided", "confirmed"]).exists()
    ):
        w.later(days=rng.uniform(0.5, 3))
        # The manager level sits on the panel (003 恒康天安 第七条(三)1).
        participants = [handler, head if head.pk != handler.pk else w.u("supervisor2"), w.u("manager")]
        ev = w.act(
            "convene_panel",
            handler,
            topic=f"{case.number} {case.get_level_display()}投诉处理方案合议",
            participants=[p.pk for p in participants],
        )
        review_id = ev.payload["review_id"]
        if ev.payload.get("awaiting_approval"):
            # The supervisor approves it and chairs it (第七条(一)(四)): a member who signs the minutes too.
            w.later(hours=rng.uniform(0.5, 8))
            w.act(
                "decide_panel_request", w.u("supervisor"), review_id=review_id, approve=True, note="同意合议"
            )
            participants.append(w.u("supervisor"))
        w.later(days=rng.uniform(0.2, 4))
        w.act(
            "decide_panel",
            handler,
            review_id=review_id,
            minutes="参会人员听取了经办人的调查汇报，逐项讨论客户诉求和合同约定。",
            decision="同意在合同约定范围内给予处理，并向客户书面说明理由。",
        )
        for p in participants:
            w.later(hours=rng.uniform(0.5, 8))
            w.act("confirm_panel", p, review_id=review_id, opinion="同意")
    if stall == "propose":
        raise Stop
    w.later(days=rng.uniform(0.5, 4))
    spec = CATEGORY_TEXTS.get(case.category.code if case.category else "", CATEGORY_TEXTS["other.misc"])
    remedy = spec["remedy"]
    lo, hi = spec["amount"]
    amount = Decimal(0)
    if remedy != "explanation":
        claimed = case.claimed_amount or Decimal(rng.randint(max(lo, 100), max(hi, 200)))
        amount = (claimed * Decimal(rng.choice(["1", "0.8", "0.6", "0.5", "0.3", "0.1"]))).quantize(
            Decimal("1")
        )
    if case.kind == "report":
        remedy, amount = "explanation", Decimal(0)
    data = {
        "remedy_type": remedy,
        "amount": str(amount),
        "description": REPLIES[remedy].format(amount=amount),
    }
    if remedy in ("refund", "termination") and case.business_type == "life":
        data["premium"] = str((amount * Decimal("1.6")).quantize(Decimal("1")))
    w.act("propose_remedy", handler, **data)
    proposal = case.proposals.order_by("-pk").first()
    if proposal.state == "pending":
        if stall == "approve":
            raise Stop
        for step, role in enumerate(proposal.required_roles):
            w.later(hours=rng.uniform(1, 30))
            approver = _approver(org, role, rng)
            if step == 0 and rng.random() < 0.05:
                w.act("reject", approver, comment="方案依据不充分，请补充调查后重新提出")
                w.later(days=rng.uniform(1, 3))
                data["description"] = "补充调查后重新提出：" + data["description"]
                w.act("propose_remedy", handler, **data)
                proposal = case.proposals.order_by("-pk").first()
                w.later(hours=rng.uniform(1, 20))
            w.act("approve", approver, comment="同意")
        # Approvers after the first may have been needed because of the re-proposal; finish the chain.
        while case.status == "pending_approval":
            role = case.proposals.order_by("-pk").first().next_role
            w.later(hours=rng.uniform(1, 20))
            w.act("approve", _approver(org, role, rng), comment="同意")
    if stall == "reply":
        raise Stop
    w.later(hours=rng.uniform(2, 40))
    w.act("reply", handler, text=data["description"], method=rng.choice(["phone", "phone", "letter", "sms"]))
    if stall == "close":
        raise Stop
    w.later(hours=rng.uniform(0.5, 30))
    criterion = "accepted" if rng.random() < 0.85 else "lawful"
    w.act(
        "close",
        handler,
        criterion=criterion,
        note="客户已确认" if criterion == "accepted" else "依法依规处理完毕",
    )


def _maybe_archive(w: ScenarioWalker) -> None:
    """Archive most finished cases after one to three months (as the archive keeper does in batches)."""
    if w.case.kind == "report" or w.rng.random() < 0.15:
        return  # whistle-blowing files stay with risk/compliance; some files are not archived yet
    w.later(days=w.rng.uniform(30, 90))
    w.act("archive", w.u("archivist"))
