"""Typed, read-only access to a policy document.

The services never dig into the raw JSON; they ask a `Rules` object, so that
the document's shape is known in one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

LEVELS = ("normal", "urgent", "major", "crisis")
# The periodic reports a preset may ask for on top of the daily, weekly and monthly ones (kesu.analytics).
PERIODIC_REPORTS = ("quarterly", "annual")


def level_rank(level: str) -> int:
    return LEVELS.index(level)


def max_level(*levels: str) -> str:
    return max(levels, key=level_rank)


@dataclass(frozen=True)
class ApprovalTier:
    role: str
    max_amount: Decimal | None
    max_premium_ratio: Decimal | None

    def fits(self, amount: Decimal, premium: Decimal | None, *, total: Decimal | None = None) -> bool:
        """`amount` against the amount limit; `total` (default: `amount`) against the premium ratio."""
        total = amount if total is None else total
        if self.max_amount is not None and amount > self.max_amount:
            return False
        if self.max_premium_ratio is not None and premium and total > premium * self.max_premium_ratio:
            return False
        return True


class Rules:
    def __init__(self, document: dict[str, Any], version: int | None = None):
        self.doc = document
        self.version = version

    # --- identity -------------------------------------------------------------------
    @property
    def code(self) -> str:
        return self.doc["meta"]["code"]

    @property
    def is_financial(self) -> bool:
        return bool(self.doc["meta"].get("financial"))

    # --- vocabulary ------------------------------------------------------------------
    @property
    def enabled_kinds(self) -> list[str]:
        return list(self.doc.get("kinds", {}).get("enabled", []))

    @property
    def business_types(self) -> dict[str, str]:
        return {b["code"]: b["name"] for b in self.doc.get("business_types", [])}

    @property
    def closing_criteria(self) -> dict[str, dict]:
        return {c["code"]: c for c in self.doc.get("closing_criteria", [])}

    def manual_closing_criteria(self, kind: str | None = None) -> list[str]:
        """The criteria a person may close with; one naming `kinds` only for a case of those kinds
        (003 举报: handed over to the judiciary, a false accusation)."""
        return [
            code
            for code, c in self.closing_criteria.items()
            if c.get("manual", True) and (not c.get("kinds") or kind in c["kinds"])
        ]

    def senior_management_recipient(self) -> str:
        """The role a whistle-blowing report about senior management goes to (003 举报 第十一条)."""
        return self.section("whistleblowing").get("senior_management_recipient", "chairman")

    @property
    def invalidity_reasons(self) -> dict[str, str]:
        return {r["code"]: r["name"] for r in self.doc.get("invalidity_reasons", [])}

    # --- grading ---------------------------------------------------------------------
    @property
    def grading(self) -> dict[str, Any]:
        return self.doc.get("grading", {})

    # --- routing ---------------------------------------------------------------------
    def default_department_code(self) -> str:
        return self.doc.get("departments", {}).get("default", "")

    def whistleblowing_department_code(self) -> str:
        return self.doc.get("departments", {}).get("whistleblowing", "")

    # --- approval --------------------------------------------------------------------
    def approval_tiers(self) -> list[ApprovalTier]:
        tiers = []
        for t in self.doc.get("approval", {}).get("tiers", []):
            tiers.append(
                ApprovalTier(
                    role=t["role"],
                    max_amount=Decimal(str(t["max_amount"])) if "max_amount" in t else None,
                    max_premium_ratio=Decimal(str(t["max_premium_ratio"]))
                    if "max_premium_ratio" in t
                    else None,
                )
            )
        return tiers

    def approval_chain(
        self,
        *,
        amount: Decimal,
        premium: Decimal | None,
        remedy: str,
        level: str,
        cash_value: Decimal | None = None,
    ) -> list[str]:
        """The roles that must approve, in order. Empty when no approval is needed.

        `approval.remedy_roles` names the approvers of remedies that have their own (003 恒康天安 第四条
        (二)–(六): change of agent, late-fee waiver … whatever the amount). For the remedies in
        `approval.above_cash_value_remedies` (第四条(一), 协议解约) the tiers' amount limits apply to the part
        above the policy's cash value, the premium ratio to the whole amount.
        """
        approval = self.doc.get("approval", {})
        if remedy == "special_closure":
            return list(approval.get("special_closure_roles", ["supervisor"]))
        own = approval.get("remedy_roles", {}).get(remedy)
        if own is not None:
            return list(own)
        if amount <= 0 and remedy in approval.get("free_remedies", []):
            return []
        above = amount
        if remedy in approval.get("above_cash_value_remedies", []):
            above = max(amount - (cash_value or Decimal(0)), Decimal(0))
        chain: list[str] = []
        for tier in self.approval_tiers():
            chain.append(tier.role)
            if tier.fits(above, premium, total=amount):
                break
        major_role = approval.get("major_case_role")
        if (
            major_role
            and amount > 0
            and level in approval.get("major_case_levels", [])
            and major_role not in chain
        ):
            chain.append(major_role)
        return chain

    def remedy_types(self, all_types: list[str], role_bound: frozenset[str]) -> list[str]:
        """The remedies a proposal may use under these rules: the ordinary ones, and those of
        `role_bound` only where `approval.remedy_roles` names their approvers."""
        own = self.doc.get("approval", {}).get("remedy_roles", {})
        return [r for r in all_types if r not in role_bound or r in own]

    # --- penalties -------------------------------------------------------------------
    def penalty_for(self, *, level: str, channel: str) -> dict[str, Any]:
        """Penalty for the responsible person and the direct supervisor.

        000 第2篇 第九条 fines ordinary complaints by level (一) and crisis complaints by their source (二): a
        crisis case from a source with its own entry (local regulator 100/100, national regulator 200/200)
        takes that entry, never the flat crisis one. Otherwise the heavier of level and channel applies.
        `pr_cost_share`: the share of the public-relations cost fined instead when the source's entry
        says so and the company had to start PR work (二3: 公关费用的 10%), else None.
        """
        pens = self.doc.get("penalties", {})
        by_level = pens.get(level, {})
        by_channel = pens.get("channel", {}).get(channel, {})
        if level == "crisis" and by_channel:
            by_level = {}
        person = max(Decimal(str(by_level.get("person", 0))), Decimal(str(by_channel.get("person", 0))))
        supervisor = max(
            Decimal(str(by_level.get("supervisor", 0))), Decimal(str(by_channel.get("supervisor", 0)))
        )
        basis = (
            f"channel:{channel}"
            if by_channel
            and (Decimal(str(by_channel.get("person", 0))) >= Decimal(str(by_level.get("person", 0))))
            else f"level:{level}"
        )
        share = by_channel.get("pr_cost_share") if basis.startswith("channel:") else None
        return {
            "person": person,
            "supervisor": supervisor,
            "reminder": bool(by_level.get("reminder", False) or person == 0),
            "basis": basis,
            "pr_cost_share": Decimal(str(share)) if share is not None else None,
        }

    # --- closing ---------------------------------------------------------------------
    def closing_rate_excluded_criteria(self) -> list[str]:
        """Closing criteria that do not count in the closing-rate KPI (special closure, 001 篇10)."""
        return [code for code, c in self.closing_criteria.items() if c.get("counts_in_closing_rate") is False]

    @property
    def classification_axes(self) -> list[str]:
        default = ["channel", "business_type", "cause"] if self.is_financial else ["channel", "cause"]
        return list(self.section("classification").get("axes", default))

    def level_label(self, level: str) -> str | None:
        """The preset's own name for a level (hotel: 轻微/一般/重大投诉), or None for the default."""
        return self.section("levels").get("labels", {}).get(level)

    @property
    def org_units(self) -> dict[str, str]:
        return {u["code"]: u["name"] for u in self.doc.get("org_units", [])}

    # --- other sections ----------------------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        return self.doc.get(name, {})

    @property
    def panel_required_levels(self) -> list[str]:
        return list(self.section("panel").get("required_levels", []))

    @property
    def collaboration_approval_role(self) -> str | None:
        """The role that approves a request for another department's help (协办) before that department
        gets it (003 恒康天安 第四条(七), 第六条(四): 咨诉主管); None: the request goes out at once."""
        return self.section("collaboration").get("approval_role") or None

    @property
    def panel_approval_role(self) -> str | None:
        """The role that approves a handler's request for a panel review (合议) before it is convened, and
        whose approver chairs it (003 恒康天安 第七条(一)(四)); None: the handler convenes it directly."""
        return self.section("panel").get("approval_role") or None

    @property
    def panel_member_roles(self) -> list[str]:
        """Roles of which the panel must count at least one member (003 恒康天安 第七条(三)1: the manager
        level, 客服部经理助理以上); empty: any two colleagues."""
        return list(self.section("panel").get("member_roles", []))

    @property
    def follow_up_required_kinds(self) -> list[str]:
        return list(self.section("follow_up").get("required_kinds", []))

    @property
    def satisfied_min_score(self) -> int:
        return int(self.section("follow_up").get("satisfied_min_score", 3))

    @property
    def follow_up_window(self) -> tuple[int, int | None]:
        """(earliest, latest) day after closing for the follow-up visit; (0, None) when unrestricted."""
        window = self.section("follow_up").get("window_days")
        return (int(window[0]), int(window[1])) if window else (0, None)

    @property
    def suspension_max_months(self) -> int:
        return int(self.section("suspension").get("max_months", 3))

    @property
    def reopen_window_days(self) -> int:
        return int(self.section("reopen").get("window_days", 90))

    # --- periodic reports ----------------------------------------------------------------
    def periodic_reports(self) -> dict[str, dict[str, Any]]:
        """The reports beyond the daily, weekly and monthly ones that the company files (`[reports.quarterly]`,
        `[reports.annual]`), each with its `recipient`, its due date and the `seed` that sets it."""
        return {
            kind: dict(spec) for kind, spec in self.section("reports").items() if kind in PERIODIC_REPORTS
        }

    def report_due_date(self, kind: str, last_day: dt.date) -> dt.date | None:
        """The day by which the report of a period ending on `last_day` must be filed, or None.

        `due_date = "MM-DD"`: the first such day after the period (000 第7篇 第二十一条: the annual report by
        30 April of the following year); `due_after_days = N`: N natural days after the period's last day."""
        spec = self.periodic_reports().get(kind)
        if not spec:
            return None
        if spec.get("due_date"):
            month, day = (int(x) for x in str(spec["due_date"]).split("-"))
            due = dt.date(last_day.year, month, day)
            return due if due > last_day else dt.date(last_day.year + 1, month, day)
        if spec.get("due_after_days"):
            return last_day + dt.timedelta(days=int(spec["due_after_days"]))
        return None

    def report_recipient(self, kind: str) -> str:
        return str(self.periodic_reports().get(kind, {}).get("recipient", ""))

    @property
    def sla_rules(self) -> list[dict[str, Any]]:
        return list(self.doc.get("sla", {}).get("rules", []))

    @property
    def uses_customer_time(self) -> bool:
        """Whether a deadline rule is set by the time the complainant asks for (`customer_time = true`,
        read from Case.customer_due_at): only then does the intake form ask for that time."""
        return any(rule.get("customer_time") for rule in self.doc.get("sla", {}).get("rules", []))
