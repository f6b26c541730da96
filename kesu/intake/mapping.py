"""From a file's columns to Kesu's fields: the column mapping, value maps and row validation.

A `RowMapper` is built once per file (it resolves the header and loads the code tables) and
turns each row's cells into a `Record` or a list of problems (column, value, reason — in Chinese).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import operator
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from django.utils import timezone
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from kesu.cases.models import Kind, Level, Status
from kesu.cases.phones import parse_phone
from kesu.intake.options import SourceOptions
from kesu.intake.parsers import (
    SHANGHAI,
    cell_text,
    header_matches,
    normalise_text,
    parse_datetime_precision,
    parse_decimal,
)
from kesu.org.models import Department
from kesu.policy.models import Category, Channel
from kesu.policy.rules import Rules

# field → (label, default header names). A source's mapping adds its own names in front.
FIELDS: dict[str, tuple[str, list[str]]] = {
    "external_id": ("外部编号", ["外部编号", "工单号", "工单编号", "投诉编号", "编号", "案件编号", "流水号"]),
    "received_at": ("接收时间", ["接收时间", "受理时间", "投诉时间", "来电时间", "登记日期", "日期"]),
    "registered_at": ("登记时间", ["登记时间", "录入时间"]),
    "channel": ("渠道", ["渠道", "投诉渠道", "来源渠道", "来源"]),
    "kind": ("类型", ["类型", "诉求类型", "工单类型"]),
    "category": ("分类", ["分类", "投诉分类", "投诉类别", "问题分类"]),
    "department": ("责任部门", ["责任部门", "处理部门", "承办部门"]),
    "branch": ("所属机构", ["所属机构", "机构", "分支机构"]),
    "subject": ("标题", ["标题", "主题", "摘要"]),
    "description": ("投诉内容", ["投诉内容", "内容", "问题描述", "投诉描述", "详情"]),
    "demands": ("客户诉求", ["客户诉求", "诉求"]),
    "claimed_amount": ("诉求金额", ["诉求金额", "金额", "涉及金额"]),
    "people_count": ("投诉人数", ["投诉人数", "人数"]),
    "subject_no": (
        "保单/合同/订单号",
        ["保单号", "合同号", "订单号", "涉及保单/合同/订单号", "保单/合同/订单号"],
    ),
    "product": ("产品", ["产品", "产品名称", "险种"]),
    "region": ("地区", ["地区", "区域", "省份"]),
    "business_type": ("业务类型", ["业务类型", "业务"]),
    "customer_name": ("客户姓名", ["客户姓名", "姓名", "投诉人", "客户名称"]),
    "customer_phone": ("联系电话", ["联系电话", "电话", "手机", "手机号", "手机号码"]),
    "customer_email": ("电子邮件", ["电子邮件", "邮箱", "Email", "E-mail"]),
    "customer_address": ("地址", ["地址", "联系地址"]),
    "customer_id_number": ("证件号码", ["证件号码", "身份证号", "身份证号码", "证件号"]),
    "status": ("状态", ["状态", "处理状态", "工单状态"]),
    "closed_at": ("结案时间", ["结案时间", "办结时间", "完成时间"]),
    "replied_at": ("答复时间", ["答复时间", "回复时间"]),
    "outcome": ("处理结果", ["处理结果", "结案依据", "办理结果", "结果"]),
    "satisfaction": ("满意度", ["满意度", "回访满意度"]),
    "level": ("等级", ["等级", "投诉等级", "级别"]),
    "flags": ("标记", ["标记", "特殊标记"]),
    "deadline": ("办理时限", ["办理时限", "处理时限", "答复时限"]),
}
REQUIRED = ("external_id", "received_at", "description")

STATUS_WORDS = {
    "closed": ["已结案", "结案", "办结", "已办结", "已完成", "完成", "已关闭", "关闭", "closed"],
    "invalid": ["无效", "无效投诉", "invalid"],
    "answered": ["当场答复", "已答复（当场）", "answered"],
    "registered": ["", "待处理", "处理中", "未结案", "未办结", "新建", "已登记", "open", "registered"],
}
FLAG_WORDS = {
    "injury": ["injury", "人身伤害", "伤害"],
    "safety": ["safety", "安全"],
    "media": ["media", "媒体", "媒体介入"],
    "lawyer": ["lawyer", "律师", "律师介入"],
}
TEXT_LIMITS = {
    "subject": 200,
    "demands": 5000,
    "subject_no": 60,
    "product": 100,
    "region": 40,
    "business_type": 40,
    "external_id": 100,
    "description": 20000,
}
FINISHED = ("closed", "invalid", "answered")


@dataclass
class Record:
    row: int
    external_id: str
    received_at: dt.datetime
    registered_at: dt.datetime
    channel_id: int
    channel_code: str
    channel_name: str
    channel_crisis: bool
    kind: str
    category_id: int | None
    department_id: int | None
    branch_id: int | None
    description: str
    subject: str = ""
    demands: str = ""
    claimed_amount: Decimal | None = None
    people_count: int = 1
    subject_no: str = ""
    product: str = ""
    region: str = ""
    business_type: str = ""
    customer: dict[str, str] = field(default_factory=dict)
    status: str = Status.REGISTERED
    closed_at: dt.datetime | None = None
    replied_at: dt.datetime | None = None
    closing_criterion: str = ""
    invalid_reason: str = ""
    outcome_text: str = ""
    satisfaction: int | None = None
    level: str | None = None
    flags: frozenset[str] = frozenset()
    extra: dict[str, str] = field(default_factory=dict)
    # (column, value, reason) of what was accepted with a caveat (reported as notes).
    warnings: tuple[tuple[str, str, str], ...] = ()
    # Values computed ahead of the writer (`BulkWriter.prepare`), None until then.
    prepared: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    # Facts that a re-import of the same external id may correct (shown on the timeline).
    UPDATABLE = (
        "subject",
        "description",
        "demands",
        "claimed_amount",
        "subject_no",
        "product",
        "region",
        "business_type",
    )


# A chunk's records cross from the reader process to the writer (kesu.intake.services._read_ahead)
# as plain tuples of their field values: pickling a tuple per record costs about half as much as
# pickling its attribute dict (no field names per value, no Python call per record).
RECORD_FIELDS = tuple(f.name for f in fields(Record))
_record_values = operator.attrgetter(*RECORD_FIELDS)


def pack_records(records: list[Record]) -> list[tuple[Any, ...]]:
    """The records as tuples in `RECORD_FIELDS` order, for `unpack_records` in another process."""
    return [_record_values(rec) for rec in records]


def unpack_records(rows: list[tuple[Any, ...]]) -> list[Record]:
    new, names = Record.__new__, RECORD_FIELDS
    records = []
    for values in rows:
        rec = new(Record)
        rec.__dict__ = dict(zip(names, values, strict=True))
        records.append(rec)
    return records


Problem = tuple[str, str, str]  # (column, value, reason)

# Fields whose own check already says "missing" (a source's `required` adds nothing to them).
_OWN_MISSING_CHECK = frozenset({"external_id", "received_at", "description", "channel"})
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
_YEAR_LAST = re.compile(r"^\s*\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{4}")
_DEADLINE_DAYS = re.compile(r"^(\d{1,4})\s*(?:个)?\s*(工作日|自然日|天|日)?$")
_ID_REASONS = {
    stdnum_errors.InvalidChecksum: "校验位错误",
    stdnum_errors.InvalidLength: "位数不是 18 位",
    stdnum_errors.InvalidFormat: "含有数字和末位 X 以外的字符",
    stdnum_errors.InvalidComponent: "出生日期或地区码无效",
}


@functools.lru_cache(maxsize=65536)
def check_id_number(raw: str) -> tuple[str, str]:
    """(normalised, "") of a 居民身份证号 (format, birth date, ISO 7064 check digit), or (raw, reason)."""
    text = normalise_text(raw).strip().replace(" ", "")
    if _SCIENTIFIC.match(text):
        return text, "证件号码被 Excel 转成了科学计数法，原号码已丢失，请把该列设为文本后重新导出"
    try:
        return ric.validate(text).upper(), ""
    except stdnum_errors.ValidationError as exc:
        return text, "证件号码无效（" + _ID_REASONS.get(type(exc), "格式不正确") + "）"


class RowMapper:
    """Resolves the header once; `map(row, cells)` gives a Record or the row's problems."""

    def __init__(
        self,
        *,
        names: list[str],
        mapping: dict[str, Any],
        value_maps: dict[str, dict[str, str]],
        defaults: dict[str, Any],
        rules: Rules,
        now: dt.datetime | None = None,
        options: SourceOptions | None = None,
    ):
        self.now = now or timezone.now()
        self.future = self.now + dt.timedelta(minutes=5)
        self.options = options = options or SourceOptions()
        self.names = names
        self.value_maps = {
            k: {str(a).strip(): str(b) for a, b in (v or {}).items()} for k, v in value_maps.items()
        }
        self.defaults = defaults or {}
        self.columns: dict[str, int] = {}
        self.extra_columns: list[tuple[str, int]] = []
        for name, (_label, aliases) in FIELDS.items():
            own = mapping.get(name)
            own_names = [own] if isinstance(own, str) else list(own or [])
            # An explicit empty list: the field is not in the file, whatever the built-in names say
            # (the import screen's "(不导入)" on a column whose header is a built-in name).
            cands = own_names + ([] if own_names or own == [] else aliases)
            idx = header_matches(names, cands)
            if idx is not None:
                self.columns[name] = idx
        for key, spec in mapping.items():
            if key.startswith("extra."):
                cands = [spec] if isinstance(spec, str) else list(spec)
                idx = header_matches(names, cands)
                if idx is not None:
                    self.extra_columns.append((key[6:], idx))
        self.missing_required = [
            f
            for f in (*REQUIRED, *(r for r in options.required if r not in REQUIRED))
            if f not in self.columns and not (f == "external_id" and mapping.get("external_id") is False)
        ]
        self.required = [f for f in options.required if f not in _OWN_MISSING_CHECK]
        self.warn_unknown = options.unknown_codes == "warn"
        # Code tables.
        self.channels: dict[str, tuple[int, str, str, bool]] = {}
        for ch in Channel.objects.filter(is_active=True):
            entry = (ch.pk, ch.code, ch.name, ch.is_crisis)
            self.channels[ch.code] = entry
            self.channels.setdefault(ch.name, entry)
        self.categories: dict[str, int] = {}
        for cat in Category.objects.filter(is_active=True):
            self.categories[cat.code] = cat.pk
            self.categories.setdefault(cat.name, cat.pk)
        self.departments: dict[str, int] = {}
        for dept in Department.objects.filter(is_active=True):
            self.departments[dept.code] = dept.pk
            self.departments.setdefault(dept.name, dept.pk)
        self.kinds = {v: v for v in Kind.values} | {str(label): v for v, label in Kind.choices}
        self.levels = {v: v for v in Level.values} | {str(label): v for v, label in Level.choices}
        self.statuses = {w: st for st, words in STATUS_WORDS.items() for w in words}
        self.criteria = {}
        for c in rules.doc.get("closing_criteria", []):
            self.criteria[c["code"]] = c["code"]
            self.criteria[c.get("name", c["code"])] = c["code"]
        self.invalidity = {}
        for c in rules.doc.get("invalidity_reasons", []):
            self.invalidity[c["code"]] = c["code"]
            self.invalidity[c.get("name", c["code"])] = c["code"]
        self.flag_words = {w: f for f, words in FLAG_WORDS.items() for w in words}
        self._dt_cache: dict[str, tuple[dt.datetime, bool] | None] = {}
        # (field, column index or None, default) for every field, resolved once.
        self._slots = [(name, self.columns.get(name), self.defaults.get(name, "")) for name in FIELDS]
        # Split for `map`, which runs per row: the fields without a column start as a copy of their
        # defaults, only the mapped ones (a third of FIELDS in a typical export) are read per row.
        self._unmapped = {name: default for name, i, default in self._slots if i is None}
        self._mapped = [(name, i, default) for name, i, default in self._slots if i is not None]
        # (field, column index, header) for the plain text fields, resolved once.
        self._text_fields = [
            (f, self.columns[f], names[self.columns[f]])
            for f in ("subject", "demands", "subject_no", "product", "region", "business_type")
            if f in self.columns
        ]

    def _moment(self, raw: Any) -> tuple[dt.datetime, bool] | None:
        """(datetime, has a time of day) in the source's date order, cached per distinct text
        (exports repeat the same times a lot)."""
        if not isinstance(raw, str):
            return parse_datetime_precision(raw, self.options.date_order)
        cache = self._dt_cache
        hit = cache.get(raw, cache)
        if hit is cache:
            if len(cache) >= 200_000:  # bounded: memory stays flat with file size
                cache.clear()
            hit = cache[raw] = parse_datetime_precision(raw, self.options.date_order)
        return hit

    def _datetime(self, raw: Any) -> dt.datetime | None:
        hit = self._moment(raw)
        return hit[0] if hit is not None else None

    def _unreadable(self, name: str, raw: Any) -> Problem:
        text = cell_text(raw)
        reason = "无法识别的日期时间"
        if self.options.date_order == "ymd" and _YEAR_LAST.match(normalise_text(text)):
            reason += "（年份在后的日期须在来源选项 date_order 中说明是月/日/年还是日/月/年）"
        return (self.header_of(name), text, reason)

    def header_of(self, name: str) -> str:
        idx = self.columns.get(name)
        return self.names[idx] if idx is not None else FIELDS.get(name, (name,))[0]

    def _get(self, cells: list[Any], name: str) -> Any:
        idx = self.columns.get(name)
        if idx is None or idx >= len(cells):
            return self.defaults.get(name, "")
        value = cells[idx]
        if value is None or value == "":
            return self.defaults.get(name, "")
        return value

    def _code(self, name: str, raw: str, table: dict[str, Any]) -> Any:
        mapped = self.value_maps.get(name, {}).get(raw)
        if mapped is not None:
            return table.get(mapped)
        return table.get(raw)

    def _maps_to_empty(self, name: str, raw: str) -> bool:
        """The source's value map says this label means "no value" (e.g. 未回访 → no score)."""
        return self.value_maps.get(name, {}).get(raw) == ""

    def _unknown(
        self, problems: list[Problem], warnings: list[Problem], name: str, raw: str, reason: str
    ) -> None:
        """An unknown code: the row is rejected, or (source option unknown_codes = warn) imported
        with the field left empty and a note — never dropped silently."""
        if self.warn_unknown:
            warnings.append((self.header_of(name), raw, reason + "，已留空导入"))
        else:
            problems.append((self.header_of(name), raw, reason))

    def map(self, row: int, cells: list[Any]) -> tuple[Record | None, list[Problem]]:
        problems: list[Problem] = []
        warnings: list[Problem] = []
        n = len(cells)
        v = self._unmapped.copy()
        for name, i, default in self._mapped:
            cell = cells[i] if i < n else None
            v[name] = default if cell is None or cell == "" else cell
        for name in self.required:  # the source's own required columns
            if cell_text(v[name]) == "":
                problems.append((self.header_of(name), "", f"缺少必填项「{FIELDS[name][0]}」"))

        if "external_id" in self.columns:
            external_id = cell_text(v["external_id"])
            if not external_id:
                problems.append((self.header_of("external_id"), "", "缺少外部编号"))
        else:
            # No id column: the row's content is its identity (re-importing the file stays idempotent).
            external_id = (
                "h:" + hashlib.sha1("\x1f".join(cell_text(c) for c in cells).encode()).hexdigest()[:32]
            )
        if len(external_id) > 100:
            problems.append((self.header_of("external_id"), external_id[:50], "外部编号超过 100 字"))

        raw = v["received_at"]
        received = self._moment(raw)
        received_at = received[0] if received is not None else None
        if received_at is None:
            problems.append(
                self._unreadable("received_at", raw)
                if raw not in ("", None)
                else (self.header_of("received_at"), "", "缺少接收时间")
            )
        elif received_at > self.future:
            problems.append((self.header_of("received_at"), cell_text(raw), "接收时间晚于当前时间"))

        registered_at = received_at
        raw = v["registered_at"]
        if raw not in ("", None):
            registered_at = self._datetime(raw)
            if registered_at is None:
                problems.append(self._unreadable("registered_at", raw))
            elif registered_at > self.future:
                problems.append((self.header_of("registered_at"), cell_text(raw), "登记时间晚于当前时间"))

        raw = cell_text(v["channel"])
        channel = self._code("channel", raw, self.channels) if raw else None
        if channel is None:
            problems.append((self.header_of("channel"), raw, f"未知渠道代码「{raw}」" if raw else "缺少渠道"))

        raw = cell_text(v["kind"]) or Kind.COMPLAINT
        kind = self._code("kind", raw, self.kinds)
        if kind is None:
            problems.append((self.header_of("kind"), raw, f"未知类型「{raw}」"))

        category_id = None
        raw = cell_text(v["category"])
        if raw and not self._maps_to_empty("category", raw):
            category_id = self._code("category", raw, self.categories)
            if category_id is None:
                self._unknown(problems, warnings, "category", raw, f"未知分类代码「{raw}」")

        department_id = None
        raw = cell_text(v["department"])
        if raw and not self._maps_to_empty("department", raw):
            department_id = self._code("department", raw, self.departments)
            if department_id is None:
                self._unknown(problems, warnings, "department", raw, f"未知部门代码「{raw}」")
        branch_id = None
        raw = cell_text(v["branch"])
        if raw and not self._maps_to_empty("branch", raw):
            branch_id = self._code("branch", raw, self.departments)
            if branch_id is None:
                self._unknown(problems, warnings, "branch", raw, f"未知机构代码「{raw}」")

        description = cell_text(v["description"])
        if not description:
            problems.append((self.header_of("description"), "", "投诉内容为空"))
        elif len(description) > 20000:
            problems.append((self.header_of("description"), description[:50], "投诉内容超过 20000 字"))

        texts: dict[str, str] = {}
        for name, idx, header in self._text_fields:
            value = cell_text(cells[idx]) if idx < len(cells) else ""
            if len(value) > TEXT_LIMITS[name]:
                problems.append((header, value[:50], f"超过 {TEXT_LIMITS[name]} 字"))
            texts[name] = value

        claimed_amount = None
        raw = v["claimed_amount"]
        try:
            claimed_amount = parse_decimal(raw)
            if claimed_amount is not None and not (0 <= claimed_amount <= Decimal("999999999999")):
                raise ValueError
        except ValueError:
            problems.append((self.header_of("claimed_amount"), cell_text(raw), "不是有效金额"))

        people = 1
        raw = v["people_count"]
        if raw not in ("", None):
            try:
                people = int(float(cell_text(raw)))
                if not 1 <= people <= 100000:
                    raise ValueError
            except ValueError:
                problems.append((self.header_of("people_count"), cell_text(raw), "投诉人数须为正整数"))

        phone_raw = cell_text(v["customer_phone"])
        phone, phone_reason = parse_phone(phone_raw) if phone_raw else ("", "")
        id_raw = cell_text(v["customer_id_number"])
        id_number = ""
        if id_raw:
            id_number, id_reason = check_id_number(id_raw)
            if id_reason:
                if self.options.invalid_id_number == "warn" and "customer_id_number" not in self.required:
                    warnings.append((self.header_of("customer_id_number"), id_raw, id_reason + "，未保存"))
                else:
                    problems.append((self.header_of("customer_id_number"), id_raw, id_reason))
                id_number = ""
        customer = {
            "name": cell_text(v["customer_name"])[:100],
            "phone": phone,
            "email": cell_text(v["customer_email"])[:254],
            "address": cell_text(v["customer_address"])[:300],
            "id_number": id_number,
            "policy_no": texts.get("subject_no", "")[:60],
        }
        if phone_reason:
            problems.append((self.header_of("customer_phone"), phone_raw, phone_reason))
        elif not (phone or customer["email"] or customer["address"]):
            problems.append(
                (self.header_of("customer_phone"), "", "须提供至少一种联系方式（电话、邮箱或地址）")
            )

        raw = cell_text(v["status"])
        status = self.value_maps.get("status", {}).get(raw) or self.statuses.get(raw)
        if status is None or status not in ("registered", *FINISHED):
            problems.append((self.header_of("status"), raw, f"未知状态「{raw}」"))
            status = "registered"

        closed_at = replied_at = None
        closing_criterion = invalid_reason = ""
        outcome = cell_text(v["outcome"])
        if status in FINISHED:
            raw = v["closed_at"]
            closed = self._moment(raw)
            closed_at = closed[0] if closed is not None else None
            if closed_at is None:
                if raw not in ("", None):
                    problems.append(self._unreadable("closed_at", raw))
                elif self.options.closed_without_time == "received_at" and received_at is not None:
                    closed_at = received_at
                    warnings.append(
                        (self.header_of("closed_at"), "", "缺少结案时间，按来源设置以接收时间作为结案时间")
                    )
                else:
                    problems.append((self.header_of("closed_at"), "", "已结案记录缺少结案时间"))
            elif closed_at > self.future:
                problems.append((self.header_of("closed_at"), cell_text(raw), "结案时间晚于当前时间"))
            elif received is not None and closed_at < received_at:
                # At the precision the data has: a date without a time closes "that day", which is
                # not before a receipt earlier the same day (stored at the receipt time then).
                assert closed is not None
                if closed[1] and received[1]:
                    problems.append((self.header_of("closed_at"), cell_text(raw), "结案时间早于接收时间"))
                elif closed_at.astimezone(SHANGHAI).date() < received_at.astimezone(SHANGHAI).date():
                    problems.append((self.header_of("closed_at"), cell_text(raw), "结案日期早于接收日期"))
                else:
                    closed_at = received_at
            raw = v["replied_at"]
            if raw not in ("", None):
                replied_at = self._datetime(raw)
                if replied_at is None:
                    problems.append(self._unreadable("replied_at", raw))
                elif replied_at > self.future:
                    problems.append((self.header_of("replied_at"), cell_text(raw), "答复时间晚于当前时间"))
            if status == "closed":
                replied_at = replied_at or closed_at
                if outcome and not self._maps_to_empty("outcome", outcome):
                    closing_criterion = self._code("outcome", outcome, self.criteria) or ""
                    if not closing_criterion:
                        self._unknown(problems, warnings, "outcome", outcome, f"未知结案方式「{outcome}」")
            elif status == "invalid" and outcome and not self._maps_to_empty("outcome", outcome):
                invalid_reason = self._code("outcome", outcome, self.invalidity) or ""
                if not invalid_reason:
                    self._unknown(problems, warnings, "outcome", outcome, f"未知无效原因「{outcome}」")

        satisfaction = None
        raw = cell_text(v["satisfaction"])
        if raw and not self._maps_to_empty("satisfaction", raw):
            mapped = self.value_maps.get("satisfaction", {}).get(raw, raw)
            try:
                satisfaction = int(float(normalise_text(mapped)))
                if not 1 <= satisfaction <= 5 or float(normalise_text(mapped)) != satisfaction:
                    raise ValueError
            except ValueError:
                problems.append(
                    (self.header_of("satisfaction"), raw, "满意度须为 1–5 的整数（与回访评分一致）")
                )
                satisfaction = None

        level = None
        raw = cell_text(v["level"])
        if raw and not self._maps_to_empty("level", raw):
            level = self._code("level", raw, self.levels)
            if level is None:
                self._unknown(problems, warnings, "level", raw, f"未知等级「{raw}」")

        flags: set[str] = set()
        raw = cell_text(v["flags"])
        if raw:
            for word in raw.replace("，", ",").replace("、", ",").replace(";", ",").split(","):
                word = word.strip()
                if not word or self._maps_to_empty("flags", word):
                    continue
                flag = self.value_maps.get("flags", {}).get(word) or self.flag_words.get(word)
                if flag is None:
                    self._unknown(problems, warnings, "flags", word, f"未知标记「{word}」")
                else:
                    flags.add(flag)

        deadline = ""
        raw = v["deadline"]
        if raw not in ("", None):
            deadline = self._deadline(raw, problems)

        if problems:
            return None, problems
        extra = {}
        for name, idx in self.extra_columns:
            if idx < len(cells):
                text = cell_text(cells[idx])
                if text:
                    extra[name] = text[:500]
        if deadline:
            extra["deadline"] = deadline
        assert channel is not None and received_at is not None and registered_at is not None
        return (
            Record(
                row=row,
                external_id=external_id,
                received_at=received_at,
                registered_at=registered_at,
                channel_id=channel[0],
                channel_code=channel[1],
                channel_name=channel[2],
                channel_crisis=channel[3],
                kind=kind,
                category_id=category_id,
                department_id=department_id,
                branch_id=branch_id,
                description=description,
                claimed_amount=claimed_amount,
                people_count=people,
                customer=customer,
                status=status,
                closed_at=closed_at,
                replied_at=replied_at,
                closing_criterion=closing_criterion,
                invalid_reason=invalid_reason,
                outcome_text=outcome[:200],
                satisfaction=satisfaction,
                level=level,
                flags=frozenset(flags),
                extra=extra,
                warnings=tuple(warnings),
                **texts,
            ),
            [],
        )

    def _deadline(self, raw: Any, problems: list[Problem]) -> str:
        """办理时限 as a date (2025-02-10) or a number of days (15 / 15个工作日); anything else
        (见附件, 0) rejects the row: a transfer's deadline cannot be guessed."""
        moment = self._moment(raw)
        if moment is not None:
            return moment[0].astimezone(SHANGHAI).date().isoformat()
        text = normalise_text(cell_text(raw)).replace(" ", "")
        m = _DEADLINE_DAYS.match(text)
        if m and int(m.group(1)) > 0:
            unit = m.group(2) or "天"
            return f"{int(m.group(1))}{'个' + unit if unit.endswith('日') and len(unit) > 1 else '天'}"
        problems.append(
            (self.header_of("deadline"), cell_text(raw), "无法识别的办理时限（须为日期或正整数天数）")
        )
        return ""
