"""Writes and orchestration of kesu.insight: triage suggestions and training, surge warnings,
group-complaint alerts and volume forecasts.

`suggest(text, channel, product)` is what intake forms call; it never raises for ordinary input
and answers "not sure" (不确定) instead of guessing when the confidence is low.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kesu.calendar.workcalendar import get_calendar
from kesu.cases.models import FINISHED_STATUSES, Case
from kesu.insight import axes as jrt
from kesu.insight import classifier as clf
from kesu.insight import forecast as fc
from kesu.insight import risk, surge
from kesu.insight import topics as tp
from kesu.insight.models import (
    ForecastRun,
    GroupAlert,
    SurgeWarning,
    TopicRun,
    TriageFeedback,
    TriageModel,
)
from kesu.org import roles
from kesu.org.selectors import users_with_role
from kesu.policy.models import Category, Channel
from kesu.policy.selectors import active_rules, taxonomy_stamp_sql
from kesu.sla.notify import notify

log = logging.getLogger("kesu.insight")
SHANGHAI = ZoneInfo("Asia/Shanghai")

NOT_SURE = "不确定"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, "KESU_INSIGHT", {}).get(name, default)


def min_training_cases() -> int:
    return int(_setting("MIN_TRAINING_CASES", 200))


# -- triage suggestion -----------------------------------------------------------------------------
@dataclass
class Suggestion:
    category_code: str | None
    category_name: str
    department_code: str | None
    level_hint: str
    category_confidence: float
    department_confidence: float
    level_confidence: float
    sure: bool
    source: str  # "model" | "keywords"
    model_version: int | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    level_reasons: list[str] = field(default_factory=list)
    best_guess: str | None = None  # the most likely category even when not sure
    # JR/T 0169-2018 axes (channel, business type, cause) for financial policies; None otherwise.
    axes: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.category_name if self.sure else NOT_SURE

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        return d


_model_cache: dict[str, Any] = {}
_model_lock = threading.Lock()


_UNREAD = -1


def _stamps() -> tuple[int | None, int | None]:
    """(taxonomy token, active triage model id) in one raw read: the validity checks of this module's
    per-process caches (categories, the loaded model), seen at once whichever process changed them."""
    model_table = connection.ops.quote_name(TriageModel._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {taxonomy_stamp_sql()}, (SELECT id FROM {model_table} WHERE is_active = %s LIMIT 1)",
            [True],
        )
        token, model_id = cursor.fetchone()
    return token, model_id


def _active_model(model_id: int | None = _UNREAD) -> tuple[TriageModel, clf.TriageClassifier] | None:
    """The active model row and its classifier; `model_id`: the caller's read of the active id (`_stamps`)."""
    if model_id == _UNREAD:
        model_id = _stamps()[1]
    if model_id is None:
        return None
    with _model_lock:
        hit = _model_cache.get("active")
        if hit and hit[0] == model_id:
            return hit[1], hit[2]
    full = TriageModel.objects.get(pk=model_id)
    model = clf.TriageClassifier.loads(full.blob)
    model.threshold = full.threshold
    with _model_lock:
        _model_cache["active"] = (model_id, full, model)
    return full, model


def active_classifier() -> clf.TriageClassifier | None:
    """The active triage model (cached), or None before the first training."""
    active = _active_model()
    return active[1] if active else None


def active_classifier_with_id() -> tuple[int, clf.TriageClassifier] | None:
    """The active triage model with the id of its row (what its outputs may be cached under)."""
    active = _active_model()
    return (active[0].pk, active[1]) if active else None


def clear_model_cache() -> None:
    with _model_lock:
        _model_cache.clear()
        _categories_cache.clear()


_categories_cache: dict[str, tuple[int, dict[str, Any]]] = {}


def _categories(token: int | None = _UNREAD) -> dict[str, Any]:
    """Active categories by code, with the department inherited from the nearest ancestor.

    Cached per process under the taxonomy's token (`token`: the caller's read of it); a shared dict of
    shared instances: read it, never change it.
    """
    if token == _UNREAD:
        token = _stamps()[0]
    with _model_lock:
        hit = _categories_cache.get("active")
    if token is not None and hit is not None and hit[0] == token:
        return hit[1]
    out = _read_categories()
    if token is not None:
        with _model_lock:
            _categories_cache["active"] = (token, out)
    return out


def _read_categories() -> dict[str, Any]:
    cats = {c.pk: c for c in Category.objects.filter(is_active=True)}
    # One pass for "has a child" (a scan of every category per category was quadratic in the tree's size).
    parents = {c.parent_id for c in cats.values()}
    out = {}
    for c in cats.values():
        dept, p = c.department_code, c
        while not dept and p.parent_id in cats:
            p = cats[p.parent_id]
            dept = p.department_code
        c.effective_department = dept or ""
        c.leaf = c.pk not in parents
        out[c.code] = c
    return out


def keyword_table(cats: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Leaf category → its keywords plus its ancestors' (the cold-start rules)."""
    cats = cats if cats is not None else _categories()
    by_pk = {c.pk: c for c in cats.values()}
    table = {}
    for code, c in cats.items():
        if not c.leaf:
            continue
        words = list(c.keywords or [])
        p = by_pk.get(c.parent_id)
        while p is not None:
            words += [w for w in (p.keywords or []) if w not in words]
            p = by_pk.get(p.parent_id)
        if words:
            table[code] = words
    return table


LEVEL_RULES = (
    (
        "crisis",
        0.8,
        ("银保监", "金融监管", "监管局", "人民银行", "12315", "消协", "曝光", "上热搜", "发微博"),
    ),
    ("major", 0.8, ("记者", "媒体", "电视台", "律师", "起诉", "法院", "诉讼")),
    ("major", 0.7, ("受伤", "住院", "人身", "起火", "爆炸", "死亡", "安全隐患")),
    ("major", 0.6, ("集体", "群体", "大家一起", "很多人", "联名")),
    ("urgent", 0.6, ("再次投诉", "第二次", "第三次", "多次投诉", "又一次", "还是没有解决", "一直没解决")),
)


def level_hint(text: str) -> tuple[str, float, list[str]]:
    """A level suggestion from warning words in the text (the grading rules decide the real level)."""
    order = {"normal": 0, "urgent": 1, "major": 2, "crisis": 3}
    level, conf, reasons = "normal", 0.5, []
    for lv, c, words in LEVEL_RULES:
        hits = [w for w in words if w in (text or "")]
        if hits:
            reasons.append(f"{lv}:{'、'.join(hits)}")
            if order[lv] > order[level]:
                level, conf = lv, c
    return level, conf, reasons


def suggest(text: str, channel: str | None = None, product: str | None = None) -> Suggestion:
    """Suggested category, department and level for a complaint text, each with a confidence; for a
    financial policy also the three JR/T 0169-2018 axes (channel, business type, cause)."""
    cats = _categories()
    s = _suggest(text, channel, product, cats)
    s.axes = financial_axes(text, channel, s.category_code, cats)
    return s


def financial_axes(
    text: str, channel: str | None, category_code: str | None, cats: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Channel / business type / cause proposals when the active policy classifies on those axes.

    The cause axis is the policy's "cause" subtree (the nfra layer adds JR/T 0169's causes); a financial
    preset without it (insurance alone) uses its whole category tree as the cause axis."""
    try:
        rules = active_rules()
    except Exception:  # no policy loaded
        return None
    if "business_type" not in rules.classification_axes:
        return None
    cats = cats if cats is not None else _categories()
    causes = {code: c.name for code, c in cats.items() if c.leaf and code.startswith("cause.")}
    if not causes:
        causes = {code: c.name for code, c in cats.items() if c.leaf}
    channels = dict(Channel.objects.filter(is_active=True).values_list("code", "name"))
    return jrt.propose(
        text,
        channel=channel,
        channels=channels,
        business_types=rules.business_types,
        causes=causes,
        category_code=category_code,
    )


def _suggest(
    text: str, channel: str | None, product: str | None, cats: dict[str, Any], model_id: int | None = _UNREAD
) -> Suggestion:
    lv, lv_conf, lv_reasons = level_hint(text)
    active = _active_model(model_id)
    if active is not None:
        row, model = active
        pred = model.predict_one(clf.compose(text, channel, product), top=len(model.labels))
        dept_prob: dict[str, float] = defaultdict(float)
        for code, p in pred.ranking:
            c = cats.get(code)
            dept_prob[c.effective_department if c else ""] += p
        best = cats.get(pred.best)
        dept = best.effective_department if best else None
        dept_conf = dept_prob.get(dept or "", 0.0)
        dept_sure = pred.sure or dept_conf >= model.threshold
        return Suggestion(
            category_code=pred.label,
            category_name=(best.name if best and pred.sure else NOT_SURE),
            department_code=dept if dept_sure else None,
            level_hint=lv,
            category_confidence=round(pred.confidence, 3),
            department_confidence=round(dept_conf, 3),
            level_confidence=lv_conf,
            sure=pred.sure,
            source="model",
            model_version=row.version,
            alternatives=[
                {"code": code, "name": cats[code].name if code in cats else code, "confidence": round(p, 3)}
                for code, p in pred.ranking[:3]
            ],
            level_reasons=lv_reasons,
            best_guess=pred.best,
        )
    # Cold start: the policy's keywords.
    code, conf = clf.keyword_predict(text, keyword_table(cats))
    c = cats.get(code) if code else None
    sure = c is not None and conf >= 0.5
    return Suggestion(
        category_code=code if sure else None,
        category_name=c.name if sure else NOT_SURE,
        department_code=c.effective_department if sure and c.effective_department else None,
        level_hint=lv,
        category_confidence=round(conf, 3),
        department_confidence=round(conf, 3),
        level_confidence=lv_conf,
        sure=sure,
        source="keywords",
        alternatives=[{"code": code, "name": c.name, "confidence": round(conf, 3)}] if c else [],
        level_reasons=lv_reasons,
        best_guess=code,
    )


# -- escalation risk ---------------------------------------------------------------------------------
def assess_risk(text: str) -> dict[str, Any]:
    """Escalation signals in a text (phrase + position) and the case flags the policy attaches to them.

    The flags are proposals for the agent to confirm at intake; with the policy's `grading.major_flags`
    a confirmed flag makes the case major (kesu.cases.grading)."""
    signals = risk.detect(text)
    try:
        grading = active_rules().grading
    except Exception:  # no policy loaded yet: propose every flag the detector knows
        grading = {}
    major_flags = list(grading.get("major_flags", ["injury", "safety", "media", "lawyer"]))
    flags = risk.proposed_flags(signals, major_flags)
    return {
        "signals": [s.as_dict() for s in signals],
        "kinds": risk.kinds(signals),
        "proposed_flags": flags,
        "proposed_level": "major" if flags else None,
        "escalation_risk": bool(signals),
    }


def _case_inputs(case) -> tuple[str, str | None, str | None]:
    from kesu.insight.repeats import case_text

    return case_text(case), case.channel.code if case.channel_id else None, case.product or None


def suggest_for_case(case) -> Suggestion:
    return suggest(*_case_inputs(case))


def record_choice(
    case, chosen_category_code: str, actor, *, suggestion: Suggestion | None = None
) -> TriageFeedback:
    """Remember what the handler chose against what was suggested (becomes training signal)."""
    if suggestion is None:
        # Only the category suggestion is recorded: without the financial axes (`suggest_for_case`), which
        # read the policy and the channels and were a third of the suggestion's cost inside `perform`.
        # One read checks both per-process caches (categories, the loaded model): on every accept.
        token, model_id = _stamps()
        suggestion = _suggest(*_case_inputs(case), _categories(token), model_id)
    return TriageFeedback.objects.create(
        case=case,
        suggested=suggestion.best_guess or "",
        suggested_confidence=suggestion.category_confidence,
        source=suggestion.source,
        chosen=chosen_category_code,
        accepted=bool(suggestion.sure and suggestion.category_code == chosen_category_code),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        at=timezone.now(),
    )


# -- training --------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    status: str  # cold_start | activated | kept_current
    message: str
    model: TriageModel | None = None
    n_cases: int = 0


def training_cases():
    """Closed, validly classified cases with a leaf category, oldest first."""

    return (
        Case.objects.filter(
            status__in=FINISHED_STATUSES, category__isnull=False, category__children__isnull=True
        )
        .exclude(is_valid=False)
        .select_related("category", "channel")
        .order_by("received_at")
    )


def _doc(case) -> str:
    from kesu.insight.repeats import case_text

    return clf.compose(case_text(case), case.channel.code if case.channel_id else None, case.product or None)


def train(
    *, min_cases: int | None = None, validation_share: float = 0.2, now: dt.datetime | None = None
) -> TrainResult:
    """Train on the organisation's closed cases; activate only if not worse than the current model."""
    min_cases = min_training_cases() if min_cases is None else min_cases
    cases = list(training_cases())
    labels = [c.category.code for c in cases]
    classes = Counter(labels)
    if len(cases) < min_cases or len(classes) < 2:
        return TrainResult(
            "cold_start",
            f"已结案且已分类的案件 {len(cases)} 件、{len(classes)} 类，少于 {min_cases} 件或不足 2 类："
            "继续使用关键词规则",
            n_cases=len(cases),
        )
    docs = [_doc(c) for c in cases]
    times = [c.received_at for c in cases]
    items = list(range(len(cases)))
    train_idx, val_idx = clf.time_ordered_split(items, times, validation_share)
    # A class needs a few training examples to be learnt (and calibrated).
    train_counts = Counter(labels[i] for i in train_idx)
    kept = {lab for lab, n in train_counts.items() if n >= 3}
    if len(kept) < 2:
        return TrainResult(
            "cold_start", "训练集中样本足够的分类不足 2 类：继续使用关键词规则", n_cases=len(cases)
        )
    tr = [i for i in train_idx if labels[i] in kept]
    model = clf.train_and_validate(
        [docs[i] for i in tr],
        [labels[i] for i in tr],
        [docs[i] for i in val_idx],
        [labels[i] for i in val_idx],
        target_precision=float(_setting("TARGET_PRECISION", 0.85)),
        floor=float(_setting("MIN_CONFIDENCE", 0.4)),
    )
    metrics = dict(model.info)
    metrics["dropped_rare_classes"] = sorted(set(train_counts) - kept)
    metrics["split"] = {
        "train_from": times[train_idx[0]].isoformat() if train_idx else None,
        "train_until": times[train_idx[-1]].isoformat() if train_idx else None,
        "validation_from": times[val_idx[0]].isoformat() if val_idx else None,
        "validation_until": times[val_idx[-1]].isoformat() if val_idx else None,
    }
    new_f1 = metrics.get("macro_f1", 0.0)
    current = _active_model()
    decision, activate = "", True
    if current is not None and val_idx:
        cur_row, cur_model = current
        pred = cur_model.predict([docs[i] for i in val_idx])
        old = clf.score([labels[i] for i in val_idx], pred)
        metrics["current_model_on_validation"] = {
            "version": cur_row.version,
            "macro_f1": old["macro_f1"],
            "accuracy": old["accuracy"],
        }
        activate = new_f1 >= old["macro_f1"]
        decision = (
            f"验证集 macro-F1 {new_f1:.3f} ≥ 现用 v{cur_row.version} 的 {old['macro_f1']:.3f}：启用"
            if activate
            else f"验证集 macro-F1 {new_f1:.3f} < 现用 v{cur_row.version} 的 {old['macro_f1']:.3f}：保留现用模型"
        )
    else:
        decision = f"首个模型，验证集 macro-F1 {new_f1:.3f}：启用"
    feedback = TriageFeedback.objects.all()
    if feedback.exists():
        metrics["feedback"] = {"n": feedback.count(), "accepted": feedback.filter(accepted=True).count()}
    with transaction.atomic():
        last = TriageModel.objects.select_for_update().order_by("-version").first()
        version = (last.version if last else 0) + 1
        if activate:
            TriageModel.objects.filter(is_active=True).update(is_active=False)
        row = TriageModel.objects.create(
            version=version,
            algorithm="字符 1–4 元 TF-IDF + 渠道/产品 + 线性 SVM（sigmoid 校准，类别加权）",
            n_train=len(tr),
            n_validation=len(val_idx),
            train_until=times[train_idx[-1]] if train_idx else None,
            labels=model.labels,
            metrics=metrics,
            threshold=model.threshold,
            blob=model.dumps(),
            is_active=activate,
            decision=decision,
        )
    clear_model_cache()
    return TrainResult("activated" if activate else "kept_current", decision, row, len(cases))


# -- calendar --------------------------------------------------------------------------------------
def day_kind_calendar() -> fc.DayKind:
    """Day types from the working-day calendar of kesu.sla (falls back to chinese_calendar)."""
    try:
        cal = get_calendar()
    except Exception:  # the calendar app is not ready (no table yet): use chinese_calendar
        return fc.china_calendar
    mapping = {
        "workday": fc.WORKDAY,
        "weekend": fc.WEEKEND,
        "holiday": fc.HOLIDAY,
        "adjusted_workday": fc.ADJUSTED,
        "company_closed": fc.HOLIDAY,
    }

    def kind(day: dt.date) -> str:
        info = cal.day(day)
        if info.kind == "company_open":
            return fc.ADJUSTED if day.weekday() >= 5 else fc.WORKDAY
        return mapping.get(info.kind, fc.WORKDAY if info.is_workday else fc.WEEKEND)

    return kind


# -- surge warnings --------------------------------------------------------------------------------
DIMENSIONS = ("total", "category", "branch", "region", "product", "channel")
DIMENSION_LABELS = {
    "total": "全部投诉",
    "category": "分类",
    "branch": "机构",
    "region": "地区",
    "product": "产品",
    "channel": "渠道",
}


def _local_day(ts: dt.datetime) -> dt.date:
    return ts.astimezone(SHANGHAI).date()


def _series_rows(since: dt.datetime, until: dt.datetime):

    return Case.objects.filter(received_at__gte=since, received_at__lt=until).values_list(
        "pk",
        "received_at",
        "category_id",
        "category__name",
        "branch_id",
        "branch__name",
        "region",
        "product",
        "channel_id",
        "channel__name",
    )


def _keys(row) -> list[tuple[str, str, str]]:
    pk, _at, cat, cat_name, br, br_name, region, product, ch, ch_name = row
    out = [("total", "all", "全部投诉")]
    if cat:
        out.append(("category", str(cat), cat_name))
    if br:
        out.append(("branch", str(br), br_name))
    if region:
        out.append(("region", region, region))
    if product:
        out.append(("product", product, product))
    if ch:
        out.append(("channel", str(ch), ch_name))
    return out


def _supervisors():

    return list(users_with_role(roles.SUPERVISOR)) + list(users_with_role(roles.CS_MANAGER))


def _deliver(warning: SurgeWarning | GroupAlert, message: str, params: dict, key: str) -> None:
    """The warning in the supervisors' inbox, kept as a message of kesu.sla.messages (said in each
    reader's language; the series is named by its dimension and key, not by its Chinese label)."""
    try:
        notify(
            _supervisors(),
            kind="insight_warning",
            message=message,
            params=params,
            key=key,
            event="insight.warning",
        )
    except Exception:  # pragma: no cover - delivery must never lose the warning itself
        log.exception("could not deliver warning %s", key)


def run_surge_checks(
    day: dt.date | None = None,
    *,
    alpha: float | None = None,
    baseline_days: int = 56,
    min_count: int = 3,
    dimensions: tuple[str, ...] = DIMENSIONS,
    deliver: bool = True,
) -> list[SurgeWarning]:
    """Daily check of every series on `day` (default: yesterday, Asia/Shanghai) against its baseline."""
    alpha = float(_setting("SURGE_ALPHA", surge.DEFAULT_ALPHA)) if alpha is None else alpha
    day = day or (timezone.now().astimezone(SHANGHAI).date() - dt.timedelta(days=1))
    start_day = day - dt.timedelta(days=baseline_days)
    since = dt.datetime.combine(start_day, dt.time(), tzinfo=SHANGHAI)
    until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
    days = [start_day + dt.timedelta(days=i) for i in range(baseline_days)]
    index = {d: i for i, d in enumerate(days)}
    counts: dict[tuple[str, str], np.ndarray] = {}
    labels: dict[tuple[str, str], str] = {}
    today: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in _series_rows(since, until).iterator():
        d = _local_day(row[1])
        for dim, key, label in _keys(row):
            if dim not in dimensions:
                continue
            k = (dim, key)
            labels[k] = label
            if d == day:
                today[k].append(row[0])
            elif d in index:
                counts.setdefault(k, np.zeros(baseline_days))[index[d]] += 1
    calendar = day_kind_calendar()
    out = []
    for k, case_ids in today.items():
        history = counts.get(k, np.zeros(baseline_days))
        result = surge.check(
            history,
            days,
            len(case_ids),
            day,
            calendar=calendar,
            alpha=alpha,
            min_count=min_count,
            baseline_days=baseline_days,
        )
        if not result.alarm:
            continue
        dim, key = k
        message = (
            f"{DIMENSION_LABELS[dim]}「{labels[k]}」{day.isoformat()} 投诉 {result.observed} 件，"
            f"预期约 {result.expected:.1f} 件（预警线 {result.upper} 件）"
        )
        warning, created = SurgeWarning.objects.get_or_create(
            dimension=dim,
            key=key,
            granularity="day",
            period_start=dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI),
            defaults={
                "label": labels[k],
                "observed": result.observed,
                "expected": result.expected,
                "upper": result.upper,
                "p_value": result.p_value,
                "sample_case_ids": sorted(case_ids)[-5:],
                "message": message,
            },
        )
        if created and deliver:
            params = {
                "dimension": dim,
                "key": key,
                "label": labels[k],
                "day": day.isoformat(),
                "observed": result.observed,
                "expected": f"{result.expected:.1f}",
                "upper": result.upper,
            }
            _deliver(warning, "insight.surge", params, f"insight:surge:{warning.pk}")
        out.append(warning)
    return out


def run_hourly_checks(
    hour: dt.datetime | None = None, *, alpha: float = 0.001, baseline_days: int = 28, deliver: bool = True
) -> list[SurgeWarning]:
    """Hourly check of the crisis channels (regulator, media, internet) against the same hour's baseline."""
    now = timezone.now()
    hour = (
        (hour or (now - dt.timedelta(hours=1)))
        .astimezone(SHANGHAI)
        .replace(minute=0, second=0, microsecond=0)
    )
    since = hour - dt.timedelta(days=baseline_days)
    rows = Case.objects.filter(
        channel__is_crisis=True, received_at__gte=since, received_at__lt=hour + dt.timedelta(hours=1)
    ).values_list("pk", "received_at", "channel_id", "channel__name")
    hist: dict[tuple[str, str], int] = Counter()
    current: dict[tuple[str, str], list[int]] = defaultdict(list)
    names = {}
    for pk, at, ch, name in rows:
        local = at.astimezone(SHANGHAI)
        for key, label in (("all", "危机渠道合计"), (str(ch), name)):
            names[key] = label
            if local >= hour:
                current[("channel-hour", key)].append(pk)
            elif local.hour == hour.hour:
                hist[("channel-hour", key)] += 1
    out = []
    for k, ids in current.items():
        # Same hour of day over the baseline days; +0.5 keeps a quiet channel from a zero mean.
        expected = (hist.get(k, 0) + 0.5) / baseline_days
        upper, dist = surge.upper_limit(expected, float("inf"), alpha)
        upper = max(upper, 3)
        if len(ids) < upper:
            continue
        label = names[k[1]]
        message = f"危机渠道「{label}」{hour:%Y-%m-%d %H}时 {len(ids)} 件，同时段预期约 {expected:.2f} 件"
        warning, created = SurgeWarning.objects.get_or_create(
            dimension=k[0],
            key=k[1],
            granularity="hour",
            period_start=hour,
            defaults={
                "label": label,
                "observed": len(ids),
                "expected": round(expected, 3),
                "upper": upper,
                "p_value": float(dist.sf(len(ids) - 1)),
                "sample_case_ids": sorted(ids)[-5:],
                "message": message,
            },
        )
        if created and deliver:
            params = {
                "dimension": k[0],
                "key": k[1],
                "label": label,
                "hour": f"{hour:%Y-%m-%d %H}",
                "observed": len(ids),
                "expected": f"{expected:.2f}",
            }
            _deliver(warning, "insight.crisis_hour", params, f"insight:surge:{warning.pk}")
        out.append(warning)
    return out


def run_group_detection(*, now: dt.datetime | None = None, deliver: bool = True) -> list[GroupAlert]:
    """Store (or extend) a GroupAlert for each group complaint found in the recent window."""
    from kesu.insight.repeats import detect_groups

    try:
        min_customers = int(active_rules().grading.get("group_major_size", 5))
    except Exception:
        min_customers = 5
    window = int(_setting("GROUP_WINDOW_DAYS", 3))
    out = []
    for g in detect_groups(now=now, window_days=window, min_customers=min_customers):
        alert = GroupAlert.objects.filter(key=g.key, state=GroupAlert.State.OPEN).first()
        if alert is None:
            alert = GroupAlert.objects.create(
                key=g.key,
                title=g.title,
                customers=g.customers,
                case_ids=g.case_ids,
                window_start=g.start,
                window_end=g.end,
            )
            if deliver:
                _deliver(alert, "insight.group", {"title": g.title}, f"insight:group:{alert.pk}")
        else:
            alert.case_ids = sorted(set(alert.case_ids) | set(g.case_ids))
            alert.customers = max(alert.customers, g.customers)
            alert.window_end = max(alert.window_end, g.end)
            alert.title = g.title
            alert.save(update_fields=["case_ids", "customers", "window_end", "title"])
        out.append(alert)
    return out


# -- forecasts -------------------------------------------------------------------------------------
def daily_series(
    days_back: int = 365, *, until: dt.date | None = None, top: int = 5, min_recent: int | None = None
) -> tuple[list[dt.date], dict[str, tuple[str, np.ndarray]]]:
    """Daily counts (Asia/Shanghai days) of the total and of the top categories and branches, ending yesterday.

    A category or branch gets its own series only with enough history: at least `min_recent` cases
    (setting FORECAST_MIN_RECENT, default 30) in the last 90 days; the `top` largest of each kind."""
    min_recent = int(_setting("FORECAST_MIN_RECENT", 30)) if min_recent is None else min_recent
    until = until or (timezone.now().astimezone(SHANGHAI).date() - dt.timedelta(days=1))
    start = until - dt.timedelta(days=days_back - 1)
    days = [start + dt.timedelta(days=i) for i in range(days_back)]
    index = {d: i for i, d in enumerate(days)}
    since = dt.datetime.combine(start, dt.time(), tzinfo=SHANGHAI)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
    total = np.zeros(days_back)
    per: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for _pk, at, cat, cat_name, br, br_name, *_ in _series_rows(since, end).iterator():
        i = index.get(_local_day(at))
        if i is None:
            continue
        total[i] += 1
        for dim, key, name in (("category", cat, cat_name), ("branch", br, br_name)):
            if key:
                k = f"{dim}:{key}"
                per.setdefault(k, np.zeros(days_back))[i] += 1
                names[k] = name
    series = {"total": ("全部投诉", total)}
    for dim in ("category", "branch"):
        keys = [k for k in per if k.startswith(dim + ":") and per[k][-90:].sum() >= min_recent]
        for key in sorted(keys, key=lambda k: -per[k][-90:].sum())[:top]:
            series[key] = (names[key], per[key])
    # Leading days before the first case are not "zero complaints": trim them.
    first = int(np.argmax(total > 0)) if total.any() else len(total)
    days = days[first:]
    series = {k: (label, y[first:]) for k, (label, y) in series.items()}
    return days, series


def make_forecast(
    *, horizon: int = 30, top: int = 5, days_back: int = 365, until: dt.date | None = None
) -> ForecastRun | None:
    """Backtest the candidates on the total series, forecast total and top series with the winner."""
    days, series = daily_series(days_back, until=until, top=top)
    if len(days) < 70:
        return None
    calendar = day_kind_calendar()
    total = series["total"][1]
    origins = max(1, min(8, (len(days) - 56 - 7) // 7))
    bt = fc.backtest(total, days, horizon=7, origins=origins, step=7, calendar=calendar)
    winner = fc.choose_model(bt)
    out = []
    for key, (label, y) in series.items():
        f = fc.forecast(y, days, horizon, calendar=calendar, model=winner)
        points = [
            {
                "date": (days[-1] + dt.timedelta(days=i + 1)).isoformat(),
                "mean": round(float(f.mean[i]), 2),
                "lo": round(float(f.lo[i]), 2),
                "hi": round(float(f.hi[i]), 2),
            }
            for i in range(horizon)
        ]
        sums = {str(h): round(float(f.mean[:h].sum()), 1) for h in (2, 7, 30) if h <= horizon}
        out.append(
            {
                "key": key,
                "dimension": key.split(":", 1)[0],
                "label": label,
                "points": points,
                "sums": sums,
                "interval": "80%",
            }
        )
    return ForecastRun.objects.create(
        origin=days[-1], horizon_days=horizon, model_name=winner, series=out, backtest={"horizon_7": bt}
    )


# -- emerging topics -------------------------------------------------------------------------------
def _topic_docs(since: dt.datetime, until: dt.datetime) -> list[tp.Doc]:
    rows = (
        Case.objects.filter(received_at__gte=since, received_at__lt=until)
        .exclude(kind="report")  # whistle-blowing reports stay with risk/compliance
        .order_by("received_at")
        .values_list("number", "subject", "description", "demands", "category__name", "department__name")
    )
    return [
        tp.Doc(number, " ".join(p for p in (subject, description, demands) if p), cat or "", dept or "")
        for number, subject, description, demands, cat, dept in rows.iterator()
    ]


def run_topic_detection(
    week_end: dt.date | None = None, *, reference_weeks: int = 8, min_size: int | None = None
) -> TopicRun:
    """The emerging topics of the 7 days ending `week_end` (default: yesterday, Asia/Shanghai), stored once
    per week (a rerun of the same week replaces its result)."""
    week_end = week_end or (timezone.now().astimezone(SHANGHAI).date() - dt.timedelta(days=1))
    start = week_end - dt.timedelta(days=6)
    at = lambda d: dt.datetime.combine(d, dt.time(), tzinfo=SHANGHAI)  # noqa: E731
    recent = _topic_docs(at(start), at(week_end + dt.timedelta(days=1)))
    reference = _topic_docs(at(start - dt.timedelta(days=7 * reference_weeks)), at(start))
    found = tp.emerging_topics(
        recent,
        reference,
        reference_weeks=reference_weeks,
        min_size=int(min_size or _setting("TOPIC_MIN_SIZE", 3)),
        min_growth=float(_setting("TOPIC_MIN_GROWTH", 2.0)),
    )
    run, _created = TopicRun.objects.update_or_create(
        week_start=start,
        defaults={
            "week_end": week_end,
            "n_recent": len(recent),
            "n_reference": len(reference),
            "topics": [t.as_dict() for t in found],
        },
    )
    return run
