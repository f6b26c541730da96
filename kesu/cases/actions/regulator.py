"""What the regulator layers add to the lifecycle (kesu.cases.regulator holds the rules themselves):
appraisal pauses (鉴定、检测、评估), the review or appeal after the decision (NFRA 核查, MIIT 申诉), and
a repeated complaint merged into the open case (NFRA: counted once).

All public: the complainant is told of each (portal progress page).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases import regulator
from kesu.cases.context import ActionContext, Outcome
from kesu.errors import Conflict

APPRAISAL_KINDS = ("appraisal", "testing", "evaluation")  # 鉴定、检测、评估


def start_appraisal(ctx: ActionContext) -> Outcome:
    """Outside appraisal, testing or evaluation begins: the answer clock stops (kesu.sla pauses it)."""
    if not regulator.appraisal_allowed(ctx.rules):
        raise Conflict(_("本规则未规定鉴定、检测、评估期间不计入处理期限"), code="appraisal_not_allowed")
    if regulator.under_appraisal(ctx.case):
        raise Conflict(_("鉴定、检测或评估已在进行中"), code="appraisal_running")
    what = ctx.data.get("appraisal_kind") or "appraisal"
    if what not in APPRAISAL_KINDS:
        what = "appraisal"
    return Outcome(None, {"appraisal_kind": what, "reason": ctx.text("reason")}, public=True)


def end_appraisal(ctx: ActionContext) -> Outcome:
    if not regulator.under_appraisal(ctx.case):
        raise Conflict(_("没有进行中的鉴定、检测或评估"), code="no_appraisal")
    return Outcome(None, {"result": ctx.text("result", required=False)}, public=True)


def request_review(ctx: ActionContext) -> Outcome:
    """The complainant asks the higher institution to review the decision (NFRA 核查) or appeals to the
    appeal body (MIIT 申诉): a recorded stage with its own deadline (kesu.sla stage `review`)."""
    case = ctx.case
    regulator.require_review_open(case, ctx.rules, ctx.now)
    if regulator.last_of(case, "request_review", "conclude_review") == "request_review":
        raise Conflict(_("核查或申诉已在进行中"), code="review_running")
    name = regulator.review_rules(ctx.rules).get("name", "")
    return Outcome(None, {"review": name, "reason": ctx.text("reason")}, public=True)


def conclude_review(ctx: ActionContext) -> Outcome:
    if regulator.last_of(ctx.case, "request_review", "conclude_review") != "request_review":
        raise Conflict(_("没有进行中的核查或申诉"), code="no_review_running")
    # Whoever is involved in the complaint or worked on the case does not review its decision (NFRA 回避).
    regulator.check_recusal(ctx.case, ctx.rules, ctx.actor, as_what="reviewer")
    return Outcome(None, {"conclusion": ctx.text("conclusion")}, public=True)


def merge_repeat(ctx: ActionContext) -> Outcome:
    """A same-matter complaint arrived while this case is open: it joins this case's timeline and is
    counted once (NFRA, `intake.count_repeats_once`). With new facts the answer clock restarts from the
    new complaint's receipt (kesu.sla)."""
    data = ctx.data
    return Outcome(
        None,
        {
            "channel": data.get("channel"),
            "received_at": data.get("received_at"),
            "description": ctx.text("description", max_length=20000),
            "new_facts": bool(data.get("new_facts")),
            "registered_by": data.get("registered_by"),
        },
        public=True,
    )
