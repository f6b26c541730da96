"""Escalation risk read from a complaint's text. Pure Python (Django only for the translated labels).

A complaint that threatens (or reports) going to the regulator, the media, a lawyer or the police,
that mentions injury or a safety hazard, or that shows strong anger, is likely to escalate. `detect`
finds each such phrase with its position in the original text (for highlighting at intake);
`proposed_flags` turns the signals into the case flags that the policy's grading attaches to them
(`grading.major_flags`: injury, safety, media, lawyer → major). The flags are only *proposed*: the
agent confirms them, since a text may mention a lawyer without anyone being involved.

Rules rather than a model: the phrases are few and specific, an agent must be able to see why a flag
was proposed, and there is no labelled training data for them. Precision and recall on a hand-labelled
sample of public complaints are in the README ("Text intelligence").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from django.utils.translation import gettext_lazy as _

# kind → (case flag it proposes or None, patterns). Numbers are bounded so that "3150元" is not "315".
_NUM = r"(?<![0-9０-９*＊]){}(?![0-9０-９*＊])"
PATTERNS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "regulator": (
        None,
        (
            r"(?:国家)?金融监(?:督)?管(?:理)?(?:总局|局)|金融办",
            r"银保监(?:会|局)?",
            r"银监(?:会|局)",
            r"保监(?:会|局)",
            r"证监(?:会|局)",
            r"监管(?:部门|机构|局|机关|单位)",
            r"人民银行|央行|人行",
            r"消费者协会|消协",
            r"市场监(?:督)?管(?:理)?局|工商局|工信(?:局|部)",
            r"信访|市长热线",
            _NUM.format("12378"),
            _NUM.format("12315"),
            _NUM.format("12363"),
            _NUM.format("12345"),
            _NUM.format("315"),
        ),
    ),
    "media": (
        "media",
        (r"媒体|记者|电视台|报社|新闻", r"曝光|上热搜|发微博|网上发帖"),
    ),
    "lawyer": (
        "lawyer",
        (
            r"律师",
            r"起诉|诉讼|法院|仲裁",
            r"法律(?:途径|手段|程序|武器|援助)|追究(?:其)?法律责任",
        ),
    ),
    "police": (None, (r"报警|公安(?:局)?|派出所|警察|经侦", _NUM.format("110"))),
    "injury": (
        "injury",
        (r"受伤|骨折|人身伤害|身亡|流血|烫伤|摔伤|烧伤|食物中毒|送医|急诊",),
    ),
    "safety": (
        "safety",
        (r"安全隐患|起火|着火|爆炸|自燃|漏电|触电|燃气泄漏|漏气|刹车失灵|食品安全",),
    ),
    "anger": (
        None,
        (
            r"气愤|愤怒|极其不满|强烈不满|忍无可忍|无法忍受|让人忍受不了|欺人太甚|无耻|可耻|流氓|黑心|无良",
            r"骗子|太过分|极为过分|非常过分|绝不罢休|投诉到底",
            r"[!！]{3,}",
        ),
    ),
}

# Regulator names are also cited as authorities ("根据人民银行规定", "银监会发布") and appear in "人行征信"
# (the credit bureau): they count only near a word of turning to them; hotline numbers always count.
_REGULATOR_INTENT = re.compile(r"投诉|举报|反映|反馈|申诉|介入|求助|上报|请|向|找|拨打|打电话|到")
_HOTLINE = re.compile(r"^[0-9０-９]+$")
# "起诉我", "律师函" and "曝光我": the company's threat against the complainant, not the complainant's step.
_AGAINST_ME = re.compile(r"^(?:了)?我")
_CONTEXT = 8

KIND_LABELS = {
    "regulator": _("向监管部门投诉"),
    "media": _("媒体曝光"),
    "lawyer": _("律师/诉讼"),
    "police": _("报警"),
    "injury": _("人身伤害"),
    "safety": _("安全隐患"),
    "anger": _("强烈情绪"),
}

# A phrase right after a negation ("没有受伤", "不会起诉", "未报警") is not a signal.
_NEGATION = re.compile(r"(?:没有|没|未|无|不会|不想|不用|不必|并非)$")
_COMPILED = {
    kind: (flag, re.compile("|".join(f"(?:{p})" for p in patterns)))
    for kind, (flag, patterns) in PATTERNS.items()
}


@dataclass(frozen=True)
class Signal:
    kind: str
    phrase: str
    start: int  # character offsets in the text as given: text[start:end] == phrase
    end: int
    flag: str | None  # the case flag this kind proposes (injury/safety/media/lawyer), if any

    def as_dict(self) -> dict:
        d = asdict(self)
        d["label"] = str(KIND_LABELS[self.kind])
        return d


def detect(text: str) -> list[Signal]:
    """Every escalation phrase in `text`, in reading order; overlapping matches keep the longer one."""
    text = text or ""
    found: list[Signal] = []
    for kind, (flag, rx) in _COMPILED.items():
        for m in rx.finditer(text):
            if _NEGATION.search(text[max(0, m.start() - 2) : m.start()]):
                continue
            if not _counts(kind, m, text):
                continue
            found.append(Signal(kind, m.group(0), m.start(), m.end(), flag))
    found.sort(key=lambda s: (s.start, -(s.end - s.start)))
    out: list[Signal] = []
    for s in found:
        if out and s.start < out[-1].end:
            continue  # inside a longer phrase already taken
        out.append(s)
    return out


def _counts(kind: str, m: re.Match, text: str) -> bool:
    after = text[m.end() : m.end() + _CONTEXT]
    if kind == "regulator" and not _HOTLINE.match(m.group(0)):
        if after.startswith("征信"):
            return False
        before = text[max(0, m.start() - _CONTEXT) : m.start()]
        return bool(_REGULATOR_INTENT.search(before) or _REGULATOR_INTENT.search(after))
    if kind in ("lawyer", "media"):
        return not (_AGAINST_ME.match(after) or after.startswith("函"))
    return True


def proposed_flags(
    signals: list[Signal], major_flags: list[str] | tuple[str, ...] | None = None
) -> list[str]:
    """The case flags the signals suggest, limited to those the policy's grading knows (when given)."""
    flags = {s.flag for s in signals if s.flag}
    if major_flags is not None:
        flags &= set(major_flags)
    return sorted(flags)


def kinds(signals: list[Signal]) -> list[str]:
    return sorted({s.kind for s in signals})
