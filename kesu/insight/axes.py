"""The three JR/T 0169-2018 axes of a financial complaint — channel, business type, cause — proposed
from the text. Pure Python, no Django.

The financial presets (insurance, securities, and the nfra layer) list business types and the cause
tree but give them no keywords, so the hints below supply the words; a policy's own name for a
business type or cause always counts as a hint too. A proposal is the option whose hints occur most
(longer hints weigh more), with the share of the matched weight as its confidence; the channel is
the one given at intake unless the text names a transfer channel (12378, the regulator) that the
policy has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

BUSINESS_TYPE_HINTS: dict[str, tuple[str, ...]] = {
    "bank.deposit": ("存款", "储蓄", "定期", "活期", "存折"),
    "bank.debit_card": ("借记卡", "储蓄卡", "银行卡", "工资卡"),
    "bank.credit_card": ("信用卡", "账单", "年费", "分期", "最低还款", "额度", "逾期", "停息挂账"),
    "bank.loan": ("贷款", "借款", "房贷", "车贷", "消费贷", "网贷", "放款", "征信"),
    "bank.payment": ("转账", "支付", "扣款", "代扣", "汇款", "结算"),
    "bank.wealth": ("理财", "基金", "净值", "收益率"),
    "bank.agency": ("代理", "代销", "代收"),
    "bank.cash": ("现金", "零钞", "残损币", "假币", "硬币"),
    "bank.personal_info": ("个人信息", "征信报告", "查询记录"),
    "life": ("寿险", "人寿", "年金", "分红险", "万能险", "退保"),
    "property": ("财产险", "财险", "家财险", "责任险"),
    "health": ("医疗险", "健康险", "重疾", "百万医疗", "住院", "门诊"),
    "auto": ("车险", "交强险", "商业险", "机动车", "定损", "出险", "交通事故"),
    "brokerage": ("证券账户", "股票账户", "佣金", "开户", "交易软件", "委托"),
    "margin": ("融资融券", "两融", "平仓", "维持担保比例"),
    "asset_management": ("资管", "资产管理计划", "集合计划"),
    "fund_sales": ("基金", "申购", "赎回", "定投"),
    "advisory": ("投顾", "投资顾问", "荐股", "投资建议"),
    "options": ("期权", "行权"),
}

CAUSE_HINTS: dict[str, tuple[str, ...]] = {
    "cause.rules": ("流程", "手续", "规定", "冻结", "销户", "注销", "办理不了", "无法办理"),
    "cause.marketing": ("营销", "推销", "宣传", "诱导", "忽悠", "电话推销", "短信推广"),
    "cause.disclosure": ("未告知", "没有告知", "不知情", "隐瞒", "没说明", "未说明", "未提示"),
    "cause.choice": ("捆绑", "搭售", "强制", "默认勾选", "私自开通", "未经同意", "未经本人同意"),
    "cause.pricing": ("利息", "利率", "费用", "收费", "扣费", "手续费", "服务费", "年费", "违约金", "会员费"),
    "cause.returns": ("收益", "亏损", "回报", "分红"),
    "cause.contract": ("合同", "条款", "协议", "格式条款"),
    "cause.facilities": ("取款机", "ATM", "吞卡", "系统故障", "网银登录", "闪退"),
    "cause.funds_safety": ("盗刷", "资金被盗", "被转走", "被骗"),
    "cause.service": ("客服", "态度", "推诿", "不回复", "打不通", "敷衍", "效率"),
    "cause.privacy": ("隐私", "个人信息", "泄露", "通讯录"),
    "cause.collection": ("催收", "爆通讯录", "骚扰", "恐吓", "威胁", "上门", "轰炸"),
}

CHANNEL_HINTS: dict[str, tuple[str, ...]] = {
    "12378": ("12378",),
    "regulator_national": ("国家金融监督管理总局", "金融监管总局", "银保监会转"),
    "regulator_local": ("金融监管局转", "监管局转办", "监管分局", "银保监局转"),
    "12315": ("12315",),
}


@dataclass
class AxisProposal:
    code: str | None
    name: str
    confidence: float
    source: str  # "text" | "given" | "category" | "none"
    matched: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def _best(text: str, options: dict[str, str], hints: dict[str, tuple[str, ...]]) -> AxisProposal:
    """The option (code → name) whose hints (plus its own name) weigh most in `text`."""
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for code, name in options.items():
        words = {name, *hints.get(code, ())}
        hits = sorted(w for w in words if w and w in text)
        if hits:
            scores[code] = float(sum(len(w) for w in hits))
            matched[code] = hits
    if not scores:
        return AxisProposal(None, "", 0.0, "none", [])
    code = max(scores, key=lambda c: (scores[c], c))
    return AxisProposal(
        code, options[code], round(scores[code] / sum(scores.values()), 3), "text", matched[code]
    )


def propose(
    text: str,
    *,
    channel: str | None,
    channels: dict[str, str],
    business_types: dict[str, str],
    causes: dict[str, str],
    category_code: str | None = None,
) -> dict[str, dict]:
    """Channel, business type and cause proposals for a complaint text (codes from the active policy)."""
    text = text or ""
    named = _best(text, {c: n for c, n in channels.items() if c in CHANNEL_HINTS}, CHANNEL_HINTS)
    if named.code is None:
        named = AxisProposal(
            channel if channel in channels else None,
            channels.get(channel or "", ""),
            1.0 if channel in channels else 0.0,
            "given" if channel in channels else "none",
            [],
        )
    # "其他" (other) is the fallback, never proposed from its name.
    causes_named = {c: n for c, n in causes.items() if not c.endswith(".other")}
    if category_code in causes:
        # The triage model (or the keywords) already chose a node of the cause tree.
        cause = AxisProposal(category_code, causes[category_code], 1.0, "category", [])
    else:
        cause = _best(text, causes_named, CAUSE_HINTS)
    return {
        "channel": named.as_dict(),
        "business_type": _best(text, business_types, BUSINESS_TYPE_HINTS).as_dict(),
        "cause": cause.as_dict(),
    }
