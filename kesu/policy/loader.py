"""Reading presets from TOML and merging them (extends / regulator layers).

A preset may `extend` another one; regulator rule sets (`overlay = true`) layer
on top of a company preset. Merge rules, chosen so that a child only needs to
state what differs:
- tables merge key by key;
- lists of coded entries (channels, categories, closing criteria ...) merge by `code`;
- SLA rules are appended; a child rule with `replace = true` first takes the kinds it names
  away from the parent's rules of the same stage (a parent rule left without kinds is dropped;
  a child rule without kinds replaces every parent rule of the stage). Layers never replace:
  where several rules match, the SLA engine takes the earliest deadline, so a layer can only
  tighten;
- in a regulator layer, thresholds where smaller is stricter (group size, repeat counts,
  maximum extension) take the smaller of the two values, so a layer never loosens them;
- any other list is replaced whole;
- `penalties` are never inherited through `extends`: every company preset states its own table (an
  empty one when its seeds set no fines), so that a hotel is never fined by an insurer's claims rules.

Every SLA rule keeps its `seed` (where in /work/shared/seeds the number comes from) and gets `source`,
the code of the preset or layer that states it; `kesu policy show --explain` prints both.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).resolve().parent / "presets"
CODED_LISTS = {
    "channels",
    "categories",
    "closing_criteria",
    "invalidity_reasons",
    "business_types",
    "org_units",
}
ALL_KINDS = ("consultation", "query", "suggestion", "complaint", "fault", "report")
LEVELS = ("normal", "urgent", "major", "crisis")
ROLES = (
    "intake",
    "handler",
    "dept_head",
    "supervisor",
    "cs_manager",
    "general_manager",
    "followup",
    "analyst",
    "risk",
    "archivist",
    "admin",
    "chairman",
)
# (section, key) pairs where a smaller number is the stricter rule; a layer may only lower them.
TIGHTEN_MIN = {
    ("grading", "group_major_size"),
    ("grading", "repeat_urgent_at"),
    ("grading", "repeat_major_at"),
    ("extension", "max_total_working_days"),
    ("suspension", "max_months"),
    ("group_visit", "max_representatives"),
}
# Sections a child preset does not inherit from the preset it extends (see the module docstring).
NOT_INHERITED = ("penalties",)
TIME_UNITS = {
    "calendar_minutes",
    "calendar_hours",
    "calendar_days",
    "working_hours",
    "working_days",
    "months",
    "same_day",
}


class PolicyError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def read_preset(code: str) -> dict[str, Any]:
    path = PRESET_DIR / f"{code}.toml"
    if not path.is_file():
        raise PolicyError([f"unknown preset '{code}' (available: {', '.join(available_presets())})"])
    with path.open("rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError([f"{path.name}: not valid TOML: {exc}"])


def _rule_kinds(rule: dict) -> set[str]:
    return set(rule.get("kinds") or ALL_KINDS)


def _merge_sla(base: list[dict], extra: list[dict], *, allow_replace: bool, source: str) -> list[dict]:
    result = [dict(r) for r in base]
    for rule in extra:
        rule = dict(rule)
        rule.setdefault("source", source)
        if allow_replace and rule.pop("replace", False):
            taken = _rule_kinds(rule)
            kept = []
            for old in result:
                if old.get("stage") != rule.get("stage") or not (_rule_kinds(old) & taken):
                    kept.append(old)
                    continue
                remaining = [k for k in ALL_KINDS if k in _rule_kinds(old) - taken]
                if remaining:
                    kept.append({**old, "kinds": remaining})
            result = kept
        rule.pop("replace", None)
        result.append(rule)
    return result


def merge(
    base: dict[str, Any],
    child: dict[str, Any],
    *,
    layer: bool = False,
    source: str = "",
    section: str = "",
) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in child.items():
        if (
            layer
            and (section, key) in TIGHTEN_MIN
            and isinstance(value, int | float)
            and isinstance(out.get(key), int | float)
        ):
            out[key] = min(out[key], value)
            continue
        if key == "sla" and isinstance(value, dict):
            sla = out.setdefault("sla", {})
            for skey, svalue in value.items():
                if skey == "rules":
                    sla["rules"] = _merge_sla(
                        sla.get("rules", []), svalue, allow_replace=not layer, source=source
                    )
                elif isinstance(svalue, dict):
                    sla[skey] = merge(sla.get(skey, {}), svalue, layer=layer, source=source, section=skey)
                else:
                    sla[skey] = svalue
        elif key in CODED_LISTS and isinstance(value, list):
            by_code = {item["code"]: item for item in out.get(key, [])}
            for item in value:
                by_code[item["code"]] = {**by_code.get(item["code"], {}), **item}
            out[key] = list(by_code.values())
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, layer=layer, source=source, section=key)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_preset(code: str, layers: list[str] | None = None) -> dict[str, Any]:
    """The full document of a preset, its `extends` chain applied, then the regulator layers."""
    seen: list[str] = []
    chain: list[dict] = []
    current: str | None = code
    while current:
        if current in seen:
            raise PolicyError([f"preset '{code}' extends itself through {seen}"])
        seen.append(current)
        doc = read_preset(current)
        if doc.get("meta", {}).get("overlay") and current == code:
            raise PolicyError([f"'{code}' is a regulator layer; load a company preset with --with {code}"])
        chain.append(doc)
        current = doc.get("meta", {}).get("extends")
    document: dict[str, Any] = {}
    for doc in reversed(chain):
        for section in NOT_INHERITED:
            document.pop(section, None)
        document = merge(document, doc, source=doc["meta"]["code"])
    missing = [s for s in NOT_INHERITED if not isinstance(chain[0].get(s), dict)]
    if missing:
        raise PolicyError(
            [
                f"preset '{code}' must state its own [{s}] (never inherited; empty when it has none)"
                for s in missing
            ]
        )
    document["meta"] = {**chain[0]["meta"]}
    document["meta"].pop("extends", None)
    for layer_code in layers or []:
        if layer_code in document["meta"].get("layers", []):
            raise PolicyError([f"layer '{layer_code}' is given twice"])
        layer = read_preset(layer_code)
        if not layer.get("meta", {}).get("overlay"):
            raise PolicyError([f"'{layer_code}' is not a regulator layer"])
        if layer["meta"].get("extends"):
            raise PolicyError([f"regulator layer '{layer_code}' cannot extend another preset"])
        body = {k: v for k, v in layer.items() if k != "meta"}
        document = merge(document, body, layer=True, source=layer_code)
        document["meta"].setdefault("layers", []).append(layer_code)
    validate(document)
    return document


def validate(document: dict[str, Any]) -> None:
    """Refuse a document the services could not work with; list every problem at once."""
    errors: list[str] = []
    if not isinstance(document, dict):
        raise PolicyError(["the document must be a table"])
    meta = document.get("meta")
    if not isinstance(meta, dict) or not meta.get("code"):
        errors.append("meta.code is missing")

    kinds = document.get("kinds", {}).get("enabled", list(ALL_KINDS))
    for kind in kinds:
        if kind not in ALL_KINDS:
            errors.append(f"kinds.enabled: unknown kind {kind!r}")

    def coded(name: str, required: bool) -> set[str]:
        entries = document.get(name, [])
        if not isinstance(entries, list):
            errors.append(f"{name} must be a list of tables")
            return set()
        if required and not entries:
            errors.append(f"no {name.replace('_', ' ')}")
        seen: set[str] = set()
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("code") or not entry.get("name"):
                errors.append(f"{name}: entry without code or name: {entry}")
                continue
            if entry["code"] in seen:
                errors.append(f"{name}: duplicate code {entry['code']!r}")
            seen.add(entry["code"])
        return seen

    channel_codes = coded("channels", required=True)
    category_codes = coded("categories", required=False)
    coded("closing_criteria", required=True)
    coded("invalidity_reasons", required=False)
    coded("business_types", required=False)
    coded("org_units", required=False)

    by_code = {c.get("code"): c for c in document.get("categories", []) if isinstance(c, dict)}
    for cat in by_code.values():
        parent = cat.get("parent")
        if parent and parent not in category_codes:
            errors.append(f"category {cat.get('code')}: unknown parent {parent}")
        # A cycle would make the tree endless.
        node, steps = cat, 0
        while node is not None and node.get("parent") and steps <= len(by_code):
            node, steps = by_code.get(node["parent"]), steps + 1
        if steps > len(by_code):
            errors.append(f"category {cat.get('code')}: parent chain loops")

    grading = document.get("grading", {})
    for key in ("repeat_urgent_at", "repeat_major_at", "group_major_size", "repeat_window_days"):
        if key in grading and (not isinstance(grading[key], int) or grading[key] < 1):
            errors.append(f"grading.{key} must be a positive whole number")
    if "direct_level" in grading and grading["direct_level"] not in ("normal", "urgent", "major", "crisis"):
        errors.append("grading.direct_level must be a level (normal, urgent, major, crisis)")
    if grading.get("repeat_urgent_at", 2) > grading.get("repeat_major_at", 3):
        errors.append("grading.repeat_urgent_at must not exceed grading.repeat_major_at")
    for flag in grading.get("major_flags", []):
        if flag not in ("injury", "safety", "media", "lawyer"):
            errors.append(f"grading.major_flags: unknown flag {flag!r}")
    for code in grading.get("major_categories", []):
        if code not in category_codes:
            errors.append(f"grading.major_categories: unknown category {code!r}")

    for i, rule in enumerate(document.get("sla", {}).get("rules", []), start=1):
        label = f"sla rule {i} ({rule.get('stage') or '?'})"
        if not rule.get("stage"):
            errors.append(f"{label}: stage is missing")
        if not rule.get("start"):
            errors.append(f"{label}: start is missing")
        if rule.get("customer_time") is True:
            # The complainant's requested time is the limit (Case.customer_due_at): a number beside it
            # would read as a rule that is not applied.
            if "amount" in rule or "unit" in rule:
                errors.append(f"{label}: a customer_time rule takes no amount or unit")
        else:
            if rule.get("unit") not in TIME_UNITS:
                errors.append(f"{label}: unknown unit {rule.get('unit')!r}")
            amount = rule.get("amount")
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
                errors.append(f"{label}: amount must be a positive number")
        for kind in rule.get("kinds", []) or []:
            if kind not in ALL_KINDS:
                errors.append(f"{label}: unknown kind {kind!r}")
        for level in rule.get("levels", []) or []:
            if level not in LEVELS:
                errors.append(f"{label}: unknown level {level!r}")
        for channel in rule.get("channels", []) or []:
            if channel not in channel_codes:
                errors.append(f"{label}: unknown channel {channel!r}")
        if "customer_time" in rule and not isinstance(rule["customer_time"], bool):
            errors.append(f"{label}: customer_time must be true or false")

    approval = document.get("approval", {})
    for tier in approval.get("tiers", []):
        if "role" not in tier:
            errors.append(f"approval tier without role: {tier}")
        elif tier["role"] not in ROLES:
            errors.append(f"approval tier: unknown role {tier['role']!r}")
        for key in ("max_amount", "max_premium_ratio"):
            if key in tier and (not isinstance(tier[key], int | float) or tier[key] < 0):
                errors.append(f"approval tier {tier.get('role')}: {key} must be a number ≥ 0")
    for key in ("special_closure_roles",):
        for role in approval.get(key, []):
            if role not in ROLES:
                errors.append(f"approval.{key}: unknown role {role!r}")
    approver = document.get("improvement", {}).get("approval_role")
    if approver is not None and approver not in ROLES:
        errors.append(f"improvement.approval_role: unknown role {approver!r}")
    for remedy, chain in approval.get("remedy_roles", {}).items():
        if not isinstance(chain, list) or not chain or any(role not in ROLES for role in chain):
            errors.append(f"approval.remedy_roles.{remedy}: a non-empty list of known roles")
    if approval.get("major_case_role") and approval["major_case_role"] not in ROLES:
        errors.append(f"approval.major_case_role: unknown role {approval['major_case_role']!r}")
    for level in approval.get("major_case_levels", []):
        if level not in LEVELS:
            errors.append(f"approval.major_case_levels: unknown level {level!r}")

    for level in list(document.get("penalties", {})):
        if level not in ("channel", "seed") and level not in LEVELS:
            errors.append(f"penalties: unknown level {level!r}")
    for channel in document.get("penalties", {}).get("channel", {}):
        if channel not in channel_codes:
            errors.append(f"penalties.channel: unknown channel {channel!r}")

    recipient = document.get("whistleblowing", {}).get("senior_management_recipient")
    if recipient is not None and recipient not in ROLES:
        errors.append(f"whistleblowing.senior_management_recipient: unknown role {recipient!r}")
    for criterion in document.get("closing_criteria", []):
        for kind in criterion.get("kinds", []):
            if kind not in ALL_KINDS:
                errors.append(f"closing_criteria.kinds: unknown kind {kind!r}")
    if document.get("grading", {}).get("by", "repeat") not in ("repeat", "fault"):
        errors.append("grading.by must be repeat or fault")
    for level in document.get("panel", {}).get("required_levels", []):
        if level not in LEVELS:
            errors.append(f"panel.required_levels: unknown level {level!r}")
    for kind in document.get("follow_up", {}).get("required_kinds", []):
        if kind not in ALL_KINDS:
            errors.append(f"follow_up.required_kinds: unknown kind {kind!r}")
    score = document.get("follow_up", {}).get("satisfied_min_score", 3)
    if not isinstance(score, int) or not 1 <= score <= 5:
        errors.append("follow_up.satisfied_min_score must be between 1 and 5")
    window = document.get("follow_up", {}).get("window_days")
    if window is not None:
        if not (
            isinstance(window, list)
            and len(window) == 2
            and all(isinstance(d, int) for d in window)
            and 0 <= window[0] <= window[1]
        ):
            errors.append("follow_up.window_days must be [earliest, latest] days after closing")
        else:
            # The follow-up deadline is the window's last day: one number, not two that may disagree.
            for rule in document.get("sla", {}).get("rules", []):
                if rule.get("stage") == "follow_up" and (rule.get("unit"), rule.get("amount")) != (
                    "calendar_days",
                    window[1],
                ):
                    errors.append(
                        f"sla.rules follow_up must be {window[1]} calendar_days (follow_up.window_days)"
                    )
    for kind, spec in document.get("reports", {}).items():
        if kind not in ("quarterly", "annual") or not isinstance(spec, dict):
            errors.append(f"reports.{kind}: only quarterly and annual reports are configured here")
            continue
        due = spec.get("due_date")
        if due is not None:
            try:
                month, day = (int(x) for x in str(due).split("-"))
                dt.date(2001, month, day)
            except ValueError:
                errors.append(f"reports.{kind}.due_date must be MM-DD")
        after = spec.get("due_after_days")
        if after is not None and (not isinstance(after, int) or after < 1):
            errors.append(f"reports.{kind}.due_after_days must be a positive whole number")
    for section, key in (("suspension", "max_months"), ("reopen", "window_days")):
        value = document.get(section, {}).get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            errors.append(f"{section}.{key} must be a positive whole number")
    if errors:
        raise PolicyError(errors)
