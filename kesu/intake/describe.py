"""What is in a file before it is imported: its columns, sample and distinct values, and a proposed
mapping (`describe_file`), for the mapping screen, `GET /api/v1/intake/uploads/{token}` and
`kesu import FILE --describe`.

Nothing is written. The proposal, per Kesu field, in this order (docs/import.md):

1. the saved source's own header names for the field (`ImportSource.mapping`) — "source";
2. Kesu's built-in header names (`kesu.intake.mapping.FIELDS`) — "header";
3. what the column's values look like (dates, mobile numbers, ID numbers, long text, the codes of a
   code table) for fields still unmapped — "values". A guess, shown as one for the user to confirm.

For coded fields (channel, category, …) the file's distinct values are sorted into those the
source's value map or Kesu's code table already knows and those that still need a value map.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from kesu.cases.models import Kind, Level
from kesu.cases.phones import parse_phone
from kesu.intake.mapping import FIELDS, FLAG_WORDS, REQUIRED, RowMapper, check_id_number
from kesu.intake.options import SourceOptions
from kesu.intake.parsers import (
    _DAY_MONTH_YEAR_RE,
    FileFormatError,
    cell_text,
    combine_header_rows,
    footer_kind,
    header_matches,
    locate_header_rows,
    normalise_text,
    open_rows,
    parse_datetime_precision,
)
from kesu.org.models import Department
from kesu.policy.models import Category, Channel
from kesu.policy.selectors import active_rules

SCAN_ROWS = 2000  # data rows read for samples and distinct values (the head of the file)
SAMPLES = 5
DISTINCT_SHOWN = 100  # distinct values listed per column, the most frequent first
_DISTINCT_TRACKED = 2000  # beyond this a column is free text: counting it further says nothing

# Fields whose values a value map translates (`ImportSource.value_maps`), and what they may map to.
CODED_FIELDS = ("channel", "kind", "category", "department", "branch", "status", "outcome", "level",
                "satisfaction", "flags")  # fmt: skip
# Fields a value may map to "" (no value): kesu.intake.mapping.RowMapper._maps_to_empty.
EMPTY_ALLOWED = frozenset({"category", "department", "branch", "outcome", "level", "satisfaction", "flags"})
STATUS_TARGETS = ("registered", "closed", "invalid", "answered")


def value_targets(rules=None) -> dict[str, list[tuple[str, str]]]:
    """The allowed targets of a value map per coded field: (Kesu code, label)."""
    rules = rules or active_rules()
    departments = [(d.code, d.name) for d in Department.objects.filter(is_active=True).order_by("code")]
    outcome = [(c["code"], c.get("name", c["code"])) for c in rules.doc.get("closing_criteria", [])]
    outcome += [(c["code"], c.get("name", c["code"])) for c in rules.doc.get("invalidity_reasons", [])]
    targets = {
        "channel": [(c.code, c.name) for c in Channel.objects.filter(is_active=True).order_by("code")],
        "kind": [(v, str(label)) for v, label in Kind.choices],
        "category": [(c.code, c.name) for c in Category.objects.filter(is_active=True).order_by("code")],
        "department": departments,
        "branch": departments,
        "status": [(s, s) for s in STATUS_TARGETS],
        "outcome": outcome,
        "level": [(v, str(label)) for v, label in Level.choices],
        "satisfaction": [(str(n), str(n)) for n in range(1, 6)],
        "flags": [(f, words[1]) for f, words in FLAG_WORDS.items()],
    }
    return {k: ([("", _("（留空）"))] if k in EMPTY_ALLOWED else []) + v for k, v in targets.items()}


def _looks_like(values: list[str]) -> tuple[str, dict[str, Any]]:
    """What a column's sampled values are: date, phone, id_number, number, text, code or empty;
    for dates with the year last, the day/month order the digits prove (mdy / dmy) if any."""
    if not values:
        return "empty", {}
    n = len(values)
    hint: dict[str, Any] = {}

    def share(pred) -> float:
        return sum(1 for v in values if pred(v)) / n

    if share(lambda v: parse_datetime_precision(v, "ymd") is not None) >= 0.8:
        return "date", hint
    year_last = [m for m in (_DAY_MONTH_YEAR_RE.match(normalise_text(v)) for v in values) if m]
    if len(year_last) >= 0.8 * n:
        if any(int(m.group(1)) > 12 for m in year_last):
            hint["date_order"] = "dmy"
        elif any(int(m.group(2)) > 12 for m in year_last):
            hint["date_order"] = "mdy"
        return "date", hint
    if share(lambda v: len(v) >= 15 and not check_id_number(v)[1]) >= 0.8:
        return "id_number", hint
    if share(lambda v: v[:1] in "+(01" and sum(c.isdigit() for c in v) >= 7 and not parse_phone(v)[1]) >= 0.8:
        return "phone", hint
    if share(lambda v: normalise_text(v).replace(",", "").replace(".", "", 1).lstrip("-").isdigit()) >= 0.8:
        return "number", hint
    if sum(len(v) for v in values) / n >= 15:
        return "text", hint
    return "code", hint


# Which field a column of a kind is proposed for, when its header says nothing (first free one).
_BY_KIND = {
    "date": ("received_at",),
    "phone": ("customer_phone",),
    "id_number": ("customer_id_number",),
    "text": ("description",),
}


def _plain_label(text: str) -> bool:
    """A cell that reads as a column title: text, not a date, number or phone."""
    t = normalise_text(text).replace(" ", "")
    return bool(t) and not any(ch.isdigit() for ch in t[:4]) and parse_datetime_precision(t) is None


def _guess_header(head: list[tuple[int, list[Any]]]) -> int | None:
    """The first row that looks like column titles (most cells filled, all of them labels) and has
    a row below it, for files whose header names nothing Kesu knows."""
    width = max((sum(1 for c in cells if cell_text(c)) for _n, cells in head), default=0)
    for i, (_n, cells) in enumerate(head[:-1]):
        texts = [cell_text(c) for c in cells if cell_text(c)]
        if len(texts) >= max(2, width // 2) and all(_plain_label(t) for t in texts):
            return i
    return None


def _read_head(path: Path, wanted: dict[str, list[str]], sheet: str | None, scan: int):
    rows, fmt, encoding, close = open_rows(path, sheet=sheet)
    try:
        head = list(itertools.islice(rows, 10))
        if not head:
            raise FileFormatError("文件为空")
        try:
            names, _before, header, first = locate_header_rows(iter(head), wanted)
            score = sum(1 for cands in wanted.values() if header_matches(names, cands) is not None)
        except FileFormatError:
            names, header, first, score = [], [], [], 0
        if score < 2:
            # Hardly a known name in the file: the header is the row that looks like titles (a data
            # cell such as 电话 must not make a data row the header), so the user maps by hand.
            guess = _guess_header(head)
            if guess is not None:
                header, first = [head[guess]], head[guess + 1 :]
                names = combine_header_rows([head[guess][1]])
            elif not header:
                raise FileFormatError("找不到表头：文件前 10 行中没有像列名的一行")
        data = []
        more = False
        for number, cells in itertools.chain(first, rows):
            texts = [cell_text(c) for c in cells]
            if not any(texts) or footer_kind(texts[:3]) is not None:
                continue
            if len(data) >= scan:
                more = True
                break
            data.append((number, cells, texts))
        return names, [n for n, _c in header], data, fmt, encoding, more
    finally:
        close()


def describe_file(
    path: str | Path,
    *,
    source: Any = None,
    sheet: str | None = None,
    scan: int = SCAN_ROWS,
    file_name: str | None = None,
) -> dict[str, Any]:
    """The columns of a CSV/XLSX file with sample and distinct values, and a proposed mapping.

    `source` (an `ImportSource` or None): its saved mapping, value maps and options go first.
    The result's `name`, `mapping`, `value_maps`, `defaults` and `options` form a mapping document
    as `kesu import --mapping` and the source editor take it; the rest describes the file.
    """
    path = Path(path)
    saved_mapping = dict(getattr(source, "mapping", None) or {})
    saved_maps = {k: dict(v or {}) for k, v in (getattr(source, "value_maps", None) or {}).items()}
    saved_options = dict(getattr(source, "options", None) or {})
    wanted = {}
    for name, (_label, aliases) in FIELDS.items():
        own = saved_mapping.get(name)
        wanted[name] = ([own] if isinstance(own, str) else list(own or [])) or aliases
    names, header_rows, data, fmt, encoding, more = _read_head(path, wanted, sheet, scan)

    columns: list[dict[str, Any]] = []
    options_hint: dict[str, Any] = {}
    for i, name in enumerate(names):
        values = [texts[i] for _n, _c, texts in data if i < len(texts) and texts[i]]
        counts = Counter(values[: _DISTINCT_TRACKED * 5])
        kind, hint = _looks_like(values[:200])
        options_hint.update(hint)
        distinct = counts.most_common(DISTINCT_SHOWN)
        columns.append(
            {
                "index": i,
                "name": name,
                "samples": list(dict.fromkeys(values))[:SAMPLES],
                "distinct": [{"value": v, "count": c} for v, c in distinct],
                "distinct_count": len(counts),
                "distinct_truncated": len(counts) > len(distinct),
                "filled": len(values),
                "looks_like": kind,
                "field": None,
                "how": "",
            }
        )

    # 1 + 2: header names (the source's own first, then the built-in ones), as RowMapper resolves them.
    mapping: dict[str, list[str]] = {}
    taken: set[int] = set()
    for field, (_label, aliases) in FIELDS.items():
        own = saved_mapping.get(field)
        if own == []:  # the source says the field is not in its files: no header match, no guess
            mapping[field] = []
            continue
        own_names = [own] if isinstance(own, str) else list(own or [])
        for how, cands in (("source", own_names), ("header", [] if own_names else aliases)):
            idx = header_matches(names, cands) if cands else None
            if idx is not None and idx not in taken:
                taken.add(idx)
                mapping[field] = [names[idx]]
                columns[idx].update(field=field, how=how)
                break
    for key, spec in saved_mapping.items():
        if key.startswith("extra."):
            idx = header_matches(names, [spec] if isinstance(spec, str) else list(spec))
            if idx is not None and idx not in taken:
                taken.add(idx)
                mapping[key] = [names[idx]]
                columns[idx].update(field=key, how="source")
        elif saved_mapping.get(key) is False:
            mapping[key] = False  # type: ignore[assignment]  # "no id column" kept as the source says
    # 3: the values, for fields still without a column.
    rules = active_rules()
    mapper = RowMapper(names=[], mapping={}, value_maps=saved_maps, defaults={}, rules=rules)
    tables = _code_tables(mapper)
    for col in columns:
        if col["field"] or not col["name"] or col["index"] in taken:
            continue
        field = next((f for f in _BY_KIND.get(col["looks_like"], ()) if f not in mapping), None)
        if field is None and col["looks_like"] == "code" and col["distinct"]:
            field = _coded_field(col, tables, mapping)
        if field is not None:
            mapping[field] = [col["name"]]
            col.update(field=field, how="values")
            taken.add(col["index"])

    # Value maps: the source's entries for the values in the file; the rest known or still to map.
    value_maps: dict[str, dict[str, str]] = {}
    unmapped: dict[str, list[str]] = {}
    by_name = {c["name"]: c for c in columns}
    for field in CODED_FIELDS:
        cols = mapping.get(field)
        if not cols:
            continue
        col = by_name[cols[0]]
        own = saved_maps.get(field, {})
        for entry in col["distinct"]:
            for raw in _words(field, entry["value"]):
                if raw in own:
                    value_maps.setdefault(field, {})[raw] = own[raw]
                elif not _known(field, raw, tables):
                    if raw not in unmapped.setdefault(field, []):
                        unmapped[field].append(raw)
        unmapped = {k: v for k, v in unmapped.items() if v}
    for field, entries in saved_maps.items():  # entries for values this head of the file lacks
        for raw, target in entries.items():
            value_maps.setdefault(field, {}).setdefault(raw, target)

    options = dict(saved_options)
    if "date_order" in options_hint and "date_order" not in options:
        options["date_order"] = options_hint["date_order"]
    missing = [f for f in (*REQUIRED, *SourceOptions.of(source).required) if not mapping.get(f)]
    if saved_mapping.get("external_id") is False:
        missing = [f for f in missing if f != "external_id"]
    return {
        "name": getattr(source, "name", "") or "",
        "mapping": mapping,
        "value_maps": value_maps,
        "defaults": dict(getattr(source, "defaults", None) or {}),
        "options": options,
        "file": {
            "name": file_name or path.name,
            "format": fmt,
            "encoding": encoding,
            "header_rows": header_rows,
            "rows_scanned": len(data),
            "more_rows": more,
        },
        "columns": columns,
        "unmapped_values": unmapped,
        "missing_required": list(dict.fromkeys(missing)),
    }


def _code_tables(mapper: RowMapper) -> dict[str, Any]:
    return {
        "channel": mapper.channels,
        "kind": mapper.kinds,
        "category": mapper.categories,
        "department": mapper.departments,
        "branch": mapper.departments,
        "status": mapper.statuses,
        "outcome": {**mapper.criteria, **mapper.invalidity},
        "level": mapper.levels,
        "flags": mapper.flag_words,
        "satisfaction": {str(n): n for n in range(1, 6)},
    }


def _words(field: str, value: str) -> list[str]:
    if field != "flags":
        return [value]
    text = value.replace("，", ",").replace("、", ",").replace(";", ",")
    return [w.strip() for w in text.split(",") if w.strip()]


def _known(field: str, raw: str, tables: dict[str, Any]) -> bool:
    if field == "satisfaction":
        try:
            return 1 <= float(normalise_text(raw)) <= 5
        except ValueError:
            return False
    return raw in tables[field]


def _coded_field(col: dict[str, Any], tables: dict[str, Any], mapping: dict[str, Any]) -> str | None:
    """The coded field whose code table knows (nearly) all of a column's distinct values."""
    values = [d["value"] for d in col["distinct"]]
    for field in ("status", "channel", "category", "department", "kind", "level", "outcome"):
        if field in mapping:
            continue
        known = sum(1 for v in values if _known(field, v, tables))
        if known and known >= 0.8 * len(values):
            return field
    return None
