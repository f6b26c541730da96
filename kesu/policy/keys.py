"""Which keys of a policy document the code reads, and where.

A key in a preset that no code reads tells a compliance officer that a rule applies when it does not.
tests/policy/test_dead_keys.py therefore walks every leaf key of every preset and regulator layer and
requires each to be listed here with the modules that read it; it also checks that each module named
really contains the key's name as a string (`.get("anonymous_allowed")`), so the list cannot claim a
reader that does not exist. A rule not enforced yet is not written into a preset at all: it is listed
in docs/rules-not-yet-enforced.md with its seed.

Paths: tables by key; `[]` stands for every entry of a list of tables; `*` for a key that is data (a
level, a channel, a kind). The path's last name that is not `*` or `[]` is the one looked for in the
readers' source.
"""

from __future__ import annotations

from typing import Any

POLICY = "kesu.policy.rules"
LOADER = "kesu.policy.loader"
EXPLAIN = "kesu.policy.explain"
SLA = "kesu.sla.services"
REGULATOR = "kesu.cases.regulator"

READERS: dict[str, tuple[str, ...]] = {
    # identity and the loader's own keys
    "meta.code": (POLICY, LOADER),
    "meta.name": ("kesu.policy.services", EXPLAIN),
    "meta.extends": (LOADER,),
    "meta.overlay": (LOADER,),
    "meta.layers": (LOADER, "kesu.policy.services"),
    "meta.financial": (POLICY,),
    "meta.industry": (EXPLAIN,),
    "meta.regulator": (EXPLAIN,),
    "meta.sources": (EXPLAIN,),
    "kinds.enabled": (POLICY,),
    "levels.labels.*": (POLICY,),
    "classification.standard": (EXPLAIN,),
    "classification.axes": (POLICY,),
    # vocabularies
    "channels[].code": ("kesu.policy.services",),
    "channels[].name": ("kesu.policy.services",),
    "channels[].name_en": ("kesu.policy.services",),
    "channels[].crisis": ("kesu.policy.services",),
    "categories[].code": ("kesu.policy.services",),
    "categories[].name": ("kesu.policy.services",),
    "categories[].name_en": ("kesu.policy.services",),
    "categories[].parent": ("kesu.policy.services",),
    "categories[].department": ("kesu.policy.services", "kesu.org.services"),
    "categories[].keywords": ("kesu.policy.services",),
    "business_types[].code": (POLICY,),
    "business_types[].name": (POLICY,),
    "org_units[].code": (POLICY, "kesu.org.services"),
    "org_units[].name": (POLICY, "kesu.org.services"),
    "org_units[].name_en": ("kesu.org.services",),
    "closing_criteria[].code": (POLICY,),
    "closing_criteria[].name": ("kesu.web.action_forms",),
    "closing_criteria[].manual": (POLICY,),
    "closing_criteria[].counts_in_closing_rate": (POLICY,),
    "invalidity_reasons[].code": (POLICY,),
    "invalidity_reasons[].name": (POLICY,),
    "departments.default": (POLICY,),
    "departments.whistleblowing": (POLICY,),
    "whistleblowing.anonymous_allowed": ("kesu.cases.services",),
    "intake.anonymous_complaints": ("kesu.cases.services",),
    "intake.seed": (EXPLAIN,),
    "whistleblowing.seed": (EXPLAIN,),
    "whistleblowing.senior_management_recipient": (POLICY,),
    "closing_criteria[].kinds": (POLICY,),
    # grading
    "grading.by": ("kesu.cases.grading", "kesu.cases.actions.judging", "kesu.web.action_forms"),
    "grading.repeat_urgent_at": ("kesu.cases.grading",),
    "grading.repeat_major_at": ("kesu.cases.grading",),
    "grading.repeat_window_days": ("kesu.cases.services",),
    "repeats.chase_open_case": ("kesu.cases.services",),
    "repeats.seed": (EXPLAIN,),
    "grading.group_major_size": ("kesu.cases.grading",),
    "grading.major_flags": ("kesu.cases.grading",),
    "grading.major_categories": ("kesu.cases.grading",),
    "grading.crisis_on_crisis_channel": ("kesu.cases.grading",),
    "grading.direct_level": ("kesu.cases.grading",),
    # approval and penalties
    "approval.tiers": (POLICY,),
    "approval.tiers[].role": (POLICY,),
    "approval.tiers[].max_amount": (POLICY,),
    "approval.tiers[].max_premium_ratio": (POLICY,),
    "approval.major_case_role": (POLICY,),
    "approval.major_case_levels": (POLICY,),
    "approval.free_remedies": (POLICY,),
    "approval.special_closure_roles": (POLICY,),
    "approval.above_cash_value_remedies": (POLICY, EXPLAIN),
    "approval.remedy_roles.*": (POLICY, EXPLAIN),
    "approval.seed": (EXPLAIN,),
    "penalties.seed": (EXPLAIN,),
    "penalties.*.person": (POLICY,),
    "penalties.*.supervisor": (POLICY,),
    "penalties.*.reminder": (POLICY,),
    "penalties.channel.*.person": (POLICY,),
    "penalties.channel.*.supervisor": (POLICY,),
    "penalties.channel.*.pr_cost_share": (POLICY, EXPLAIN),
    # the rest of the lifecycle
    "panel.required_levels": (POLICY,),
    "panel.approval_role": (POLICY, EXPLAIN),
    "panel.member_roles": (POLICY, EXPLAIN),
    "panel.seed": ("kesu.cases.actions.collaboration", EXPLAIN),
    "collaboration.approval_role": (POLICY, EXPLAIN),
    "collaboration.seed": (EXPLAIN,),
    "follow_up.required_kinds": (POLICY,),
    "follow_up.satisfied_min_score": (POLICY,),
    "follow_up.window_days": (POLICY, LOADER),
    "suspension.max_months": (POLICY,),
    "reopen.window_days": (POLICY,),
    "archive.retention_years": ("kesu.cases.actions.archiving",),
    "emergency_plan.required_levels": (
        "kesu.cases.actions.lessons",
        "kesu.web.action_forms",
        "kesu.cases.demo.scenario",
    ),
    "improvement.approval_role": ("kesu.analytics.services",),
    "business_hours.periods": ("kesu.calendar.workcalendar",),
    "business_hours.day_ends": ("kesu.calendar.workcalendar",),
    "escalation.chain": (SLA,),
    "escalation.grace_working_hours": (SLA,),
    "escalation.warn_at_share": (SLA,),
    # periodic reports filed with a regulator (kesu.analytics.tasks schedules them)
    "reports.*.due_date": (POLICY, EXPLAIN),
    "reports.*.due_after_days": (POLICY, EXPLAIN),
    "reports.*.recipient": (POLICY, EXPLAIN),
    "reports.*.seed": (EXPLAIN, "kesu.analytics.reports"),
    # deadlines
    "sla.rules[].stage": (SLA,),
    "sla.rules[].amount": (SLA,),
    "sla.rules[].unit": (SLA,),
    "sla.rules[].start": (SLA,),
    "sla.rules[].levels": (SLA,),
    "sla.rules[].kinds": (SLA,),
    "sla.rules[].channels": (SLA,),
    "sla.rules[].replace": (LOADER,),
    # The complainant's requested time decides the stage (001 篇8 六二）1; Case.customer_due_at).
    "sla.rules[].customer_time": (SLA, POLICY, LOADER, EXPLAIN),
    "sla.rules[].source": (LOADER, EXPLAIN),
    "sla.rules[].seed": (EXPLAIN,),
    "sla.pause_on_suspension": (SLA,),
    "sla.extension.max_total_working_days": (SLA,),
    "sla.extension.seed": (EXPLAIN,),
    "sla.extension.with_regulator.rule": (SLA, EXPLAIN),
    "sla.extension.with_regulator.seed": (SLA, EXPLAIN),
    "sla.extension.kinds.*.max_total": (SLA,),
    "sla.extension.kinds.*.unit": (SLA,),
    "sla.extension.kinds.*.start": (SLA,),
    "sla.extension.kinds.*.approval_role": (SLA,),
    # regulator layers (kesu.cases.regulator and the actions it serves)
    "sla.extension.regulator.stages": (SLA, "kesu.cases.actions.system"),
    "sla.extension.regulator.kinds": (SLA,),
    "sla.extension.regulator.unit": (SLA,),
    "sla.extension.regulator.start": (SLA,),
    "sla.extension.regulator.notify_complainant": ("kesu.cases.actions.system", EXPLAIN),
    "sla.extension.regulator.seed": (EXPLAIN,),
    "sla.extension.regulator.tiers[].max_total": (SLA, EXPLAIN),
    "sla.extension.regulator.tiers[].approval_role": (SLA, EXPLAIN),
    "sla.pauses.appraisal": (SLA, REGULATOR),
    "sla.pauses.seed": (EXPLAIN,),
    "intake.time_bar.basis": (REGULATOR,),
    "intake.time_bar.kinds": (REGULATOR,),
    "intake.time_bar.fee_categories": (REGULATOR,),
    "intake.time_bar.months_fee": (REGULATOR, EXPLAIN),
    "intake.time_bar.years": (REGULATOR, EXPLAIN),
    "intake.time_bar.seed": (EXPLAIN,),
    "intake.count_repeats_once": ("kesu.cases.services", EXPLAIN),
    "handling.recusal": (REGULATOR,),
    "handling.seed": (REGULATOR, EXPLAIN),
    "reply.further_remedies": (REGULATOR,),
    "reply.seed": (EXPLAIN,),
    "review.name": ("kesu.cases.actions.regulator", EXPLAIN),
    "review.wait_amount": (REGULATOR, EXPLAIN),
    "review.wait_unit": (REGULATOR, EXPLAIN),
    "review.seed": (EXPLAIN,),
}


def leaf_paths(document: dict[str, Any], prefix: str = "") -> set[str]:
    """Every leaf key of a document as a path (`sla.rules[].stage`); lists of values are leaves."""
    out: set[str] = set()
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= leaf_paths(value, path + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                out |= leaf_paths(item, path + "[].")
        else:
            out.add(path)
    return out


def _segments(path: str) -> list[str]:
    return path.replace("[]", ".[]").split(".")


def registered(path: str) -> str | None:
    """The READERS entry that covers a leaf path, or None."""
    if path in READERS:
        return path
    parts = _segments(path)
    for pattern in READERS:
        pat = _segments(pattern)
        if len(pat) == len(parts) and all(p in ("*", q) for p, q in zip(pat, parts, strict=True)):
            return pattern
    return None


def looked_for_name(pattern: str) -> str:
    """The name a reader's source must contain for `pattern` (its last literal segment)."""
    return next(p for p in reversed(_segments(pattern)) if p not in ("*", "[]"))
