"""The stage table: which case action opens which deadline and which action meets it.

One row per stage. `opens`/`ends` list the actions; a predicate may narrow an action (e.g. a note
only meets "first contact" when the customer was contacted). `ref` names the sub-record that owns
the deadline when a case may have several (collaboration requests, panel reviews).

A stage is opened only when a policy rule exists for it ([[sla.rules]] with that `stage`); the
rule's `start` chooses the anchor instant:
    received → the case's receipt time; last_contact → the last contact with the customer;
    anything else → the time of the opening event.
When the case reaches a finished status (closed, invalid, answered, archived) every open stage
other than those owed after it (follow-up, review) is cancelled; `suspend` pauses the open stages (when
the policy pauses on suspension) and `resume` resumes them, moving their deadlines on by the paused time;
`start_appraisal` / `end_appraisal` do the same where the policy says appraisal time does not count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _


def _contacted(event) -> bool:
    return bool((event.payload or {}).get("contacted_customer"))


def _left_approval(event) -> bool:
    return event.from_status == "pending_approval" and event.to_status != "pending_approval"


def _entered_approval(event) -> bool:
    return event.to_status == "pending_approval"


def _back_to_work(event) -> bool:
    return event.from_status == "closed" and event.to_status == "investigating"


def _handed_over(event) -> bool:
    """A 协办 or 合议 that goes ahead now: requested where no approval is needed, or approved (003 恒康天安
    第六条(四), 第七条(一)); a proposal awaiting the supervisor runs no clock, a refused one never does."""
    payload = event.payload or {}
    return not payload.get("awaiting_approval") and payload.get("approved", True) is not False


def _new_facts(event) -> bool:
    return bool((event.payload or {}).get("new_facts"))


@dataclass(frozen=True)
class StageSpec:
    label: str
    opens: dict[str, Callable | None] = field(default_factory=dict)
    ends: dict[str, Callable | None] = field(default_factory=dict)
    ref_key: str | None = None  # payload key naming the sub-record
    paused_by_suspension: bool = True
    # A limit, not an obligation: when it is reached the sweeper performs `expires_with` on the case
    # (003: an expired 暂结案 is closed). Never a breach, never escalated, not in timeliness KPIs.
    expires_with: str | None = None
    # Still owed after the case is finished (the follow-up; the review the complainant asked for).
    after_finish: bool = False


def _any(event) -> bool:
    return True


STAGES: dict[str, StageSpec] = {
    # 登记：收到投诉后 24 小时内录入系统（以登记时间为完成时间）
    "record": StageSpec(_("登记录入"), opens={"register": None}, ends={"register": None}),
    # 转交责任部门
    "handover": StageSpec(_("转交责任部门"), opens={"accept": None}, ends={"assign": None}),
    # 受理决定（12315：收到投诉之日起 7 个工作日内决定是否受理）
    "acceptance": StageSpec(
        _("决定是否受理"), opens={"register": None}, ends={"accept": None, "mark_invalid": None}
    ),
    # 首次联系客户
    "first_contact": StageSpec(
        _("首次联系客户"),
        opens={"assign": None},
        ends={
            "start_investigation": _contacted,
            "add_note": _contacted,
            "reply": None,
            "answer_first_contact": None,
        },
    ),
    # 调查核实（保险预设：7 个工作日）
    "investigation": StageSpec(
        _("调查核实"),
        opens={"assign": None},
        ends={"propose_remedy": None, "request_special_closure": None},
    ),
    # 开始调查分析（渔业 004 四2：分析小组收到投诉后 24 小时内展开分析）: met when the handler starts.
    "analysis": StageSpec(
        _("开始调查分析"),
        opens={"assign": None},
        ends={"start_investigation": None, "propose_remedy": None, "request_special_closure": None},
    ),
    # 答复/处理方案（办结）
    "answer": StageSpec(
        _("答复客户"),
        # NFRA: a repeat with new facts restarts the clock from its receipt (ref "facts<seq>").
        opens={"register": None, "reopen": None, "follow_up": _back_to_work, "merge_repeat": _new_facts},
        ends={"reply": None, "answer_first_contact": None},
    ),
    # 协办部门回复
    "collaboration": StageSpec(
        _("协办回复"),
        opens={"request_collaboration": _handed_over, "decide_collaboration_request": _handed_over},
        ends={"answer_collaboration": None},
        ref_key="request_id",
        paused_by_suspension=False,
    ),
    # 合议决议: the final opinion within 15 days of the panel's convening (003 恒康天安 第八条(四)); a
    # preliminary opinion meanwhile (`record_preliminary_opinion`) does not stop it.
    "panel_decision": StageSpec(
        _("合议决议"),
        opens={"convene_panel": _handed_over, "decide_panel_request": _handed_over},
        ends={"decide_panel": None},
        ref_key="review_id",
    ),
    # 审批
    "approval": StageSpec(
        _("方案审批"),
        opens={"propose_remedy": _entered_approval, "request_special_closure": _entered_approval},
        ends={"approve": _left_approval, "reject": None},
        ref_key="proposal_id",
    ),
    # 回访
    "follow_up": StageSpec(
        _("回访"),
        opens={"close": None},
        ends={"follow_up": None},
        paused_by_suspension=False,
        after_finish=True,
    ),
    # 核查/申诉 after the decision (NFRA: the higher institution concludes within 30 days; MIIT: the
    # appeal body). Opened only under a policy with a `review` rule.
    "review": StageSpec(
        _("核查/申诉"),
        opens={"request_review": None},
        ends={"conclude_review": None},
        paused_by_suspension=False,
        after_finish=True,
    ),
    # 暂结案期限（自最后一次联系客户起）
    "suspension": StageSpec(
        _("暂结案期限"),
        opens={"suspend": None},
        ends={"resume": None, "expire_suspension": None},
        paused_by_suspension=False,
        expires_with="expire_suspension",
    ),
}

# Stages that are limits (see StageSpec.expires_with): left out of breach and timeliness counts.
LIMIT_STAGES = frozenset(code for code, spec in STAGES.items() if spec.expires_with)

FINISHED = ("closed", "invalid", "answered", "archived")
# Actions that change nothing a deadline depends on (skip the recomputation).
NEUTRAL_ACTIONS = frozenset(
    {
        "escalate",
        "confirm_accountability",
        "waive_accountability",
        "request_archive_access",
        "decide_archive_access",
    }
)


def stage_label(stage: str) -> str:
    spec = STAGES.get(stage)
    return str(spec.label) if spec else stage
