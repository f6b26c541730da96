"""The rules in words: `kesu policy show PRESET --explain` and the README's preset table.

A compliance officer reads here, in Chinese, every deadline with its clock (natural days, working days,
clock hours), the seed rule it comes from and the preset or layer that states it. Only what the code
enforces is in a preset (kesu/policy/keys.py), so nothing printed here is a rule that is not applied.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kesu.policy.loader import available_presets, read_preset, resolve_preset

# The clock of each unit, as a compliance officer says it.
CLOCKS = {
    "calendar_minutes": ("分钟", "自然时间，按钟点连续计算"),
    "calendar_hours": ("小时", "自然时间，按钟点连续计算，不扣除下班和节假日"),
    "calendar_days": ("日", "自然日，期限最后一日为节假日的顺延至其后第一个工作日"),
    "working_hours": ("工作小时", "只计营业时间内的小时"),
    "working_days": ("个工作日", "只计工作日，跳过周末和法定节假日"),
    "months": ("个月", "自然月"),
    "same_day": ("当日", "至起算当日 24 时止（含节假日，不顺延）"),
}
STAGE_NAMES = {
    "record": "登记录入",
    "acceptance": "决定是否受理",
    "handover": "转交责任部门",
    "first_contact": "首次联系客户",
    "investigation": "调查核实",
    "analysis": "开始调查分析",
    "answer": "答复客户",
    "collaboration": "协办回复",
    "panel_decision": "合议决议",
    "approval": "方案审批",
    "follow_up": "回访",
    "suspension": "暂结案期限",
    "review": "核查/申诉",
}
STARTS = {
    "received": "自收到投诉起",
    "accepted": "自受理起",
    "assigned": "自派单给处理人起",
    "collaboration_requested": "自协办请求移交协办部门起（须审批的，自批准起）",
    "panel_convened": "自召开合议起（须审批的，自批准召集起）",
    "proposed": "自提交处理方案起",
    "closed": "自结案起",
    "last_contact": "自最后一次联系客户起",
    "review_requested": "自申请核查或申诉起",
}
KIND_NAMES = {
    "consultation": "咨询",
    "query": "查询",
    "suggestion": "建议",
    "complaint": "投诉",
    "fault": "故障申告",
    "report": "举报",
}
ROLE_NAMES = {"supervisor": "投诉主管", "cs_manager": "客服部经理", "general_manager": "总经理"}
LEVEL_NAMES = {"normal": "普通", "urgent": "紧急", "major": "重大", "crisis": "危机"}
# Rows of the README table: each company preset, then each layer on the preset it is meant for.
TABLE_LAYERS = (("insurance", "nfra"), ("telecom", "miit_telecom"), ("auto_dealer", "samr_12315"))


# A rule whose limit is the time the complainant asks for (`customer_time = true`, 001 篇8 六二）1).
CUSTOMER_TIME = (
    "客人要求的时间",
    gettext_noop("以客人要求的解决时间为准，按钟点连续计算；未提出时间的不适用本条"),
)


def duration_text(rule: dict[str, Any]) -> str:
    if rule.get("customer_time"):
        return CUSTOMER_TIME[0]
    word, _clock = CLOCKS.get(rule["unit"], (rule["unit"], ""))
    if rule.get("unit") == "same_day" and rule.get("amount") == 1:
        return word
    return f"{rule['amount']} {word}"


def clock_text(unit: str) -> str:
    return _(CLOCKS[unit][1]) if unit in CLOCKS else unit


def _narrowing(rule: dict[str, Any]) -> str:
    parts = []
    if rule.get("kinds"):
        parts.append("、".join(KIND_NAMES.get(k, k) for k in rule["kinds"]))
    if rule.get("levels"):
        parts.append("、".join(LEVEL_NAMES.get(v, v) for v in rule["levels"]) + "级")
    if rule.get("channels"):
        parts.append(_("渠道 ") + "、".join(rule["channels"]))
    return "；".join(parts)


def rule_line(rule: dict[str, Any]) -> str:
    narrow = _narrowing(rule)
    stage = _(STAGE_NAMES.get(rule["stage"], rule["stage"]))
    start = _(STARTS.get(rule["start"], rule["start"]))
    return _("%(stage)s%(narrow)s：%(start)s %(duration)s（%(clock)s）。依据：%(seed)s［%(source)s］") % {
        "stage": stage,
        "narrow": f"（{narrow}）" if narrow else "",
        "start": start,
        "duration": _("至客人要求的时间") if rule.get("customer_time") else duration_text(rule),
        "clock": _(CUSTOMER_TIME[1]) if rule.get("customer_time") else clock_text(rule["unit"]),
        "seed": rule.get("seed") or _("未注明"),
        "source": rule.get("source", ""),
    }


def penalty_text(document: dict[str, Any]) -> str:
    penalties = document.get("penalties", {})
    channel_names = {c["code"]: c["name"] for c in document.get("channels", [])}
    parts = []
    for level in LEVEL_NAMES:
        entry = penalties.get(level)
        if entry and (entry.get("person") or entry.get("supervisor")):
            parts.append(f"{LEVEL_NAMES[level]} {entry.get('person', 0)}/{entry.get('supervisor', 0)}")
    for channel, entry in penalties.get("channel", {}).items():
        name = channel_names.get(channel, channel)
        text = f"{name} {entry.get('person', 0)}/{entry.get('supervisor', 0)}"
        if entry.get("pr_cost_share"):
            text += _("（须启动公关的，各罚公关费用的 %(pct)s%%）") % {
                "pct": f"{float(entry['pr_cost_share']) * 100:g}"
            }
        parts.append(text)
    return "；".join(parts) if parts else _("不罚款，只提醒")


# Remedies as the approval line names them (kesu.cases.models.RemedyType; this layer does not import cases).
REMEDY_NAMES = {
    "termination": "协议解除",
    "change_agent": "变更服务人员/代理人",
    "late_fee_waiver": "免滞纳金",
    "premium_reversal": "回调保费",
    "advance_payment": "公司垫付",
    "commission_freeze": "冻结/解冻代理人佣金或押金",
}


def approval_text(document: dict[str, Any]) -> str:
    """The approval matrix in words: the tiers, the remedies counted above the cash value, and the
    remedies with their own approvers."""
    approval = document.get("approval", {})
    tiers = []
    for tier in approval.get("tiers", []):
        role = ROLE_NAMES.get(tier["role"], tier["role"])
        limits = []
        if "max_amount" in tier:
            limits.append(_("%(n)s 元以内") % {"n": f"{tier['max_amount']:g}"})
        if "max_premium_ratio" in tier:
            limits.append(
                _("且不超过保费的 %(pct)s%%") % {"pct": f"{float(tier['max_premium_ratio']) * 100:g}"}
            )
        tiers.append(role + ("（" + "".join(limits) + "）" if limits else ""))
    parts = [_("逐级审批：") + " → ".join(tiers)] if tiers else []
    above = approval.get("above_cash_value_remedies", [])
    if above:
        parts.append(
            _("%(remedies)s的金额按高于现金价值的部分计")
            % {"remedies": "、".join(REMEDY_NAMES.get(r, r) for r in above)}
        )
    for remedy, chain in approval.get("remedy_roles", {}).items():
        parts.append(f"{REMEDY_NAMES.get(remedy, remedy)}：{' → '.join(ROLE_NAMES.get(r, r) for r in chain)}")
    return "；".join(parts) if parts else _("无需审批")


def extension_text(document: dict[str, Any]) -> str:
    ext = document.get("sla", {}).get("extension", {})
    parts = []
    if "max_total_working_days" in ext:
        parts.append(_("总时限不超过 %(n)s 个工作日") % {"n": ext["max_total_working_days"]})
    for kind, rule in ext.get("kinds", {}).items():
        parts.append(
            _("%(kind)s：自收到起不超过 %(duration)s，须 %(role)s 批准")
            % {
                "kind": KIND_NAMES.get(kind, kind),
                "duration": duration_text({"amount": rule["max_total"], "unit": rule["unit"]}),
                "role": ROLE_NAMES.get(rule.get("approval_role", ""), rule.get("approval_role", "—")),
            }
        )
    regulator = ext.get("regulator", {})
    if regulator.get("tiers"):
        unit = regulator.get("unit", "calendar_days")
        tiers = []
        for tier in regulator["tiers"]:
            text = _("至 %(duration)s") % {
                "duration": duration_text({"amount": tier["max_total"], "unit": unit})
            }
            if tier.get("approval_role"):
                role = tier["approval_role"]
                text += _("（须 %(role)s 批准）") % {"role": ROLE_NAMES.get(role, role)}
            tiers.append(text)
        notice = _("，每次告知投诉人延期及原因") if regulator.get("notify_complainant") else ""
        parts.append(_("监管：自收到起延长") + "，".join(tiers) + notice)
        if ext.get("with_regulator", {}).get("rule") == "stricter":
            parts.append(_("从严：公司总时限先届满的，以公司总时限为准"))
    return "；".join(parts) or "—"


def extension_decision(document: dict[str, Any]) -> str | None:
    """Where a company's extension total and a regulator's tiers disagree: which one the preset follows."""
    ext = document.get("sla", {}).get("extension", {})
    regulator = ext.get("regulator", {})
    if not regulator.get("tiers"):
        return None
    if ext.get("with_regulator", {}).get("rule") == "stricter":
        text = _(
            "延期规则冲突的处理：从严适用——公司延期总时限（%(n)s 个工作日）先届满的，以公司规定为准；"
            "监管延期（%(tiers)s）为最外限，其审批要求仍须遵守"
        )
        seeds = [ext["with_regulator"].get("seed"), regulator.get("seed")]
    else:
        text = _("延期规则冲突的处理：监管延期（%(tiers)s）取代公司延期总时限（%(n)s 个工作日）")
        seeds = [regulator.get("seed"), ext.get("seed")]
    unit = regulator.get("unit", "calendar_days")
    tiers = "、".join(duration_text({"amount": t["max_total"], "unit": unit}) for t in regulator["tiers"])
    return (text % {"n": ext.get("max_total_working_days", 20), "tiers": tiers}) + _("。依据：%(seed)s") % {
        "seed": "；".join(s for s in seeds if s) or _("未注明")
    }


def teamwork_lines(document: dict[str, Any]) -> list[str]:
    """协办 and 合议: who approves them, who sits on the panel, with their seeds."""
    lines = []
    collaboration = document.get("collaboration", {})
    if collaboration.get("approval_role"):
        role = collaboration["approval_role"]
        lines.append(
            _("协办须经%(role)s审批同意后移交协办部门。依据：%(seed)s")
            % {"role": ROLE_NAMES.get(role, role), "seed": collaboration.get("seed", _("未注明"))}
        )
    panel = document.get("panel", {})
    if panel.get("approval_role") or panel.get("member_roles"):
        parts = []
        if panel.get("approval_role"):
            role = ROLE_NAMES.get(panel["approval_role"], panel["approval_role"])
            parts.append(_("经%(role)s审批同意后召开，由审批人主持") % {"role": role})
        if panel.get("member_roles"):
            names = "、".join(ROLE_NAMES.get(r, r) for r in panel["member_roles"])
            parts.append(_("与会人员须包括%(roles)s") % {"roles": names})
        lines.append(
            _("合议：%(parts)s。依据：%(seed)s")
            % {"parts": "；".join(parts), "seed": panel.get("seed", _("未注明"))}
        )
    return lines


def regulator_lines(document: dict[str, Any]) -> list[str]:
    """The regulator layers' rules beyond deadlines, each with its seed."""
    lines = []
    bar = document.get("intake", {}).get("time_bar")
    if bar:
        parts = []
        if bar.get("months_fee"):
            parts.append(_("话费争议超过 %(n)s 个月") % {"n": bar["months_fee"]})
        if bar.get("years"):
            parts.append(_("超过 %(n)s 年") % {"n": bar["years"]})
        basis = _("事项发生") if bar.get("basis", "occurred") == "occurred" else _("知道权益受损")
        lines.append(
            _("时效：自%(basis)s起%(parts)s的不予受理（登记时拒绝）。依据：%(seed)s")
            % {"basis": basis, "parts": "、".join(parts), "seed": bar.get("seed", _("未注明"))}
        )
    pauses = document.get("sla", {}).get("pauses", {})
    if pauses.get("appraisal"):
        lines.append(
            _("鉴定、检测、评估期间暂停答复时限。依据：%(seed)s") % {"seed": pauses.get("seed", _("未注明"))}
        )
    intake = document.get("intake", {})
    if intake.get("count_repeats_once"):
        lines.append(
            _("处理期限内同一事项再次投诉并入原案、计为一件；有新事实的重新计算期限。依据：%(seed)s")
            % {"seed": intake.get("seed", _("未注明"))}
        )
    handling = document.get("handling", {})
    if handling.get("recusal"):
        lines.append(
            _(
                "回避：被投诉人及涉事人员不得担任本案的经办人、审批人、合议参加人或核查人，办理过本案的人员不得核查本案。依据：%(seed)s"
            )
            % {"seed": handling.get("seed", _("未注明"))}
        )
    reply = document.get("reply", {})
    if reply.get("further_remedies"):
        lines.append(
            _("答复告知救济途径：%(list)s。依据：%(seed)s")
            % {"list": "；".join(reply["further_remedies"]), "seed": reply.get("seed", _("未注明"))}
        )
    review = document.get("review", {})
    if review:
        wait = ""
        if review.get("wait_amount"):
            wait = _("（未答复的，自收到起 %(duration)s 后）") % {
                "duration": duration_text(
                    {"amount": review["wait_amount"], "unit": review.get("wait_unit", "calendar_days")}
                )
            }
        lines.append(
            _("答复后可申请%(name)s%(wait)s。依据：%(seed)s")
            % {"name": review.get("name", ""), "wait": wait, "seed": review.get("seed", _("未注明"))}
        )
    lines.extend(report_lines(document))
    return lines


REPORT_NAMES = {"quarterly": gettext_noop("季报"), "annual": gettext_noop("年报")}


def report_lines(document: dict[str, Any]) -> list[str]:
    """The periodic reports filed with a regulator, with their due date and seed."""
    lines = []
    for kind, spec in document.get("reports", {}).items():
        if spec.get("due_date"):
            month, day = str(spec["due_date"]).split("-")
            due = _("次年 %(m)s 月 %(d)s 日前") % {"m": int(month), "d": int(day)}
        elif spec.get("due_after_days"):
            due = _("期末后 %(n)s 日内") % {"n": spec["due_after_days"]}
        else:
            due = _("未定报送日")
        lines.append(
            _("定期报告：%(name)s，%(due)s报送%(recipient)s。依据：%(seed)s")
            % {
                "name": _(REPORT_NAMES.get(kind, kind)),
                "due": due,
                "recipient": spec.get("recipient", ""),
                "seed": spec.get("seed", _("未注明")),
            }
        )
    return lines


def explain_lines(document: dict[str, Any]) -> list[str]:
    """The document as a compliance officer reads it: one line per rule, with clock and seed."""
    meta = document["meta"]
    lines = [f"{meta.get('name', meta['code'])}（{meta['code']}）"]
    if meta.get("industry"):
        lines.append(_("行业：%(v)s") % {"v": meta["industry"]})
    for layer in meta.get("layers", []):
        layer_meta = read_preset(layer)["meta"]
        lines.append(
            _("叠加的监管规则：%(name)s（%(code)s，%(regulator)s）")
            % {
                "name": layer_meta.get("name", layer),
                "code": layer,
                "regulator": layer_meta.get("regulator", "—"),
            }
        )
    if meta.get("sources"):
        lines.append(_("来源：%(v)s") % {"v": "；".join(meta["sources"])})
    if document.get("classification", {}).get("standard"):
        lines.append(_("分类标准：%(v)s") % {"v": document["classification"]["standard"]})
    if any(rule.get("customer_time") for rule in document.get("sla", {}).get("rules", [])):
        lines.append(_("时限（同一环节有多条规则时取最早的期限；客人提出了要求时间的，以该时间为准）："))
    else:
        lines.append(_("时限（同一环节有多条规则时取最早的期限）："))
    for rule in document.get("sla", {}).get("rules", []):
        lines.append("  " + rule_line(rule))
    ext = document.get("sla", {}).get("extension", {})
    lines.append(
        _("延期：%(text)s。依据：%(seed)s")
        % {
            "text": extension_text(document),
            "seed": "；".join(s for s in (ext.get("seed"), ext.get("regulator", {}).get("seed")) if s)
            or _("未注明"),
        }
    )
    decision = extension_decision(document)
    if decision:
        lines.append(decision)
    lines.extend(teamwork_lines(document))
    lines.extend(regulator_lines(document))
    approval = document.get("approval", {})
    lines.append(
        _("方案审批：%(text)s。依据：%(seed)s")
        % {"text": approval_text(document), "seed": approval.get("seed", _("未注明"))}
    )
    penalties = document.get("penalties", {})
    lines.append(
        _("罚款（责任人/直接上级，元）：%(text)s。依据：%(seed)s")
        % {"text": penalty_text(document), "seed": penalties.get("seed", _("未注明"))}
    )
    wb = document.get("whistleblowing", {})
    if wb:
        allowed = _("受理匿名举报") if wb.get("anonymous_allowed", True) else _("不受理匿名举报")
        lines.append(
            _("举报：%(text)s。依据：%(seed)s") % {"text": allowed, "seed": wb.get("seed", _("未注明"))}
        )
    return lines


def _stage_summary(document: dict[str, Any], stage: str, kind: str = "complaint") -> str:
    own = document["meta"]["code"]
    parts = []
    for rule in document.get("sla", {}).get("rules", []):
        if rule["stage"] != stage or (rule.get("kinds") and kind not in rule["kinds"]):
            continue
        text = duration_text(rule)
        narrow = [LEVEL_NAMES.get(v, v) for v in rule.get("levels", [])] + list(rule.get("channels", []))
        if narrow:
            text += f"（{'、'.join(narrow)}）"
        if rule.get("source") and rule["source"] not in (own, "general"):
            text += f"［{rule['source']}］"
        parts.append(text)
    return "；".join(parts) or "—"


def table_rows() -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for code in available_presets():
        if not read_preset(code)["meta"].get("overlay"):
            rows.append((code, resolve_preset(code)))
    for base, layer in TABLE_LAYERS:
        rows.append((f"{base} --with {layer}", resolve_preset(base, [layer])))
    return rows


def markdown_table() -> str:
    """The README's table of presets and layers, generated from the presets themselves."""
    head = "| 预设 | 答复投诉 | 首次联系 | 延期上限 | 罚款（责任人/上级，元） | 回访 | 来源 |"
    lines = [head, "|" + "---|" * 7]
    for label, doc in table_rows():
        sources = list(doc["meta"].get("sources", []))
        for layer in doc["meta"].get("layers", []):
            sources += read_preset(layer)["meta"].get("sources", [])
        cells = [
            f"`{label}`",
            _stage_summary(doc, "answer"),
            _stage_summary(doc, "first_contact"),
            extension_text(doc),
            penalty_text(doc),
            _stage_summary(doc, "follow_up"),
            "；".join(sources),
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
