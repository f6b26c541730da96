"""Reading import files as a stream of rows: CSV (UTF-8, UTF-8-BOM, GB18030/GBK, UTF-16) and XLSX.

Nothing here holds the whole file in memory: CSV is decoded incrementally, XLSX is read with
openpyxl's read-only (streaming) mode. Headers may span several rows (merged cells in
Excel, e.g. "客户信息" over "姓名 | 电话") and may be preceded by a title row; `locate_header`
picks the header rows that match the most mapped columns.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC

TOTAL_MARKERS = ("合计", "总计", "小计", "共计", "总数")
# The sign-off lines under an Excel report's table ("制表人：张三  审核人：李四  日期：…").
SIGNATURE_MARKERS = (
    "制表",
    "填表",
    "填报",
    "审核",
    "复核",
    "审批",
    "签字",
    "签名",
    "盖章",
    "负责人",
    "统计人",
    "报送",
    "打印",
    "导出时间",
    "导出人",
)


class FileFormatError(ValueError):
    """The file cannot be read at all (not a row-level problem)."""


# --- encodings -------------------------------------------------------------------------------


def detect_encoding(path: Path, sample_size: int = 1 << 20) -> str:
    """The encoding of a CSV file: BOMs first, then strict UTF-8 on a sample, else GB18030 (⊇ GBK)."""
    with open(path, "rb") as f:
        sample = f.read(sample_size)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    try:
        # An incremental decoder tolerates a multi-byte character cut at the end of the sample.
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")("strict").decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise FileFormatError("无法识别文件编码（支持 UTF-8、UTF-8 BOM、GBK/GB18030、UTF-16）")


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


# --- readers -----------------------------------------------------------------------------------


def _csv_rows(path: Path, encoding: str) -> tuple[Iterator[tuple[int, list[Any]]], Any]:
    handle = open(path, encoding=encoding, newline="", errors="strict")
    head = handle.read(64 * 1024)
    handle.seek(0)
    reader = csv.reader(handle, delimiter=_sniff_delimiter(head))

    def gen() -> Iterator[tuple[int, list[Any]]]:
        try:
            # Excel's row number: one per record (a quoted multi-line cell is one row).
            yield from enumerate(reader, start=1)
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"文件编码错误（按 {encoding} 读取失败，位置 {exc.start}）")
        except csv.Error as exc:
            raise FileFormatError(f"CSV 格式错误（第 {reader.line_num} 行）：{exc}")

    return gen(), handle.close


def _xlsx_rows(path: Path, sheet_name: str | None) -> tuple[Iterator[tuple[int, list[Any]]], Any]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise FileFormatError(f"无法读取 Excel 文件：{exc}")
    ws = wb[sheet_name] if sheet_name else wb.worksheets[0]

    def gen() -> Iterator[tuple[int, list[Any]]]:
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            yield number, list(row)

    return gen(), wb.close


def open_rows(
    path: Path, *, sheet: str | None = None
) -> tuple[Iterator[tuple[int, list[Any]]], str, str, Any]:
    """(rows, format, encoding, close) for a CSV/TXT or XLSX file."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows, close = _xlsx_rows(path, sheet)
        return rows, "xlsx", "", close
    if suffix == ".xls":
        raise FileFormatError("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV")
    encoding = detect_encoding(path)
    rows, close = _csv_rows(path, encoding)
    return rows, "csv", encoding, close


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious `.0` (phone numbers, IDs), dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    return str(value).strip()


def _normalise_header(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")").replace("：", "").replace(":", "")


def combine_header_rows(rows: list[list[Any]]) -> list[str]:
    """Header names from one or more header rows.

    Merged cells arrive as a value in the first cell and empty cells after it, so upper rows
    are filled to the right; a column's name is its non-empty levels joined by "/"
    ("客户信息/电话"). A cell merged downwards (empty below) keeps the upper name.
    """
    width = max((len(r) for r in rows), default=0)
    grid = [[cell_text(c) for c in r] + [""] * (width - len(r)) for r in rows]
    for r in grid[:-1]:
        last = ""
        for i, v in enumerate(r):
            if v:
                last = v
            else:
                # Only fill under a merged group: the lower row must have a name there.
                r[i] = last if grid[-1][i] else ""
    names = []
    for i in range(width):
        parts = []
        for r in grid:
            v = r[i]
            if v and (not parts or parts[-1] != v):
                parts.append(v)
        names.append("/".join(parts))
    return names


def header_matches(names: list[str], candidates: list[str]) -> int | None:
    """The index of the first column whose full name or last level matches a candidate."""
    norm = [_normalise_header(n) for n in names]
    leaves = [n.rsplit("/", 1)[-1] for n in norm]
    for cand in candidates:
        c = _normalise_header(cand)
        for i, n in enumerate(norm):
            if n == c:
                return i
        for i, leaf in enumerate(leaves):
            if leaf == c:
                return i
    return None


def locate_header(
    rows: Iterator[tuple[int, list[Any]]], wanted: dict[str, list[str]], *, scan: int = 10
) -> tuple[list[str], int, list[tuple[int, list[Any]]]]:
    """Find the header: the 1–3 consecutive rows among the first `scan` that name the most mapped fields.

    Returns (column names, number of the last header row, rows already read after the header).
    """
    names, _before, header, rest = locate_header_rows(rows, wanted, scan=scan)
    return names, header[-1][0], rest


def locate_header_rows(
    rows: Iterator[tuple[int, list[Any]]], wanted: dict[str, list[str]], *, scan: int = 10
) -> tuple[list[str], list[tuple[int, list[Any]]], list[tuple[int, list[Any]]], list[tuple[int, list[Any]]]]:
    """`locate_header`, with the rows read before the header (titles, blank rows) and the header rows
    themselves: (column names, rows before, header rows, rows already read after the header)."""
    head: list[tuple[int, list[Any]]] = []
    for item in rows:
        head.append(item)
        if len(head) >= scan:
            break
    if not head:
        raise FileFormatError("文件为空")
    best: tuple[int, int, int] | None = None  # (score, -depth, start)
    for start in range(len(head)):
        for depth in (1, 2, 3):
            if start + depth > len(head):
                break
            names = combine_header_rows([head[start + k][1] for k in range(depth)])
            score = sum(1 for cands in wanted.values() if header_matches(names, cands) is not None)
            key = (score, -depth, -start)
            if best is None or key > (best[0], best[1], -best[2]):
                best = (score, -depth, start)
    assert best is not None
    score, neg_depth, start = best
    if score == 0:
        raise FileFormatError("找不到表头：文件中没有任何一列与列映射匹配")
    depth = -neg_depth
    names = combine_header_rows([head[start + k][1] for k in range(depth)])
    return names, head[:start], head[start : start + depth], head[start + depth :]


# --- values ------------------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(?:(上午|下午|晚上|凌晨)?\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})?\s*(?:[:：分]\s*(\d{1,2})?\s*秒?)?"
    r"(?:\.\d+)?)?)?\s*$"
)
# Day and month before the year (12/01/2025, 12-01-2025 11:18): which is which is the source's
# convention (`date_order`), never guessed from the digits.
_DAY_MONTH_YEAR_RE = re.compile(
    r"^\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4})"
    r"(?:[\sT]+(\d{1,2})\s*:\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?(?:\.\d+)?)?\s*$"
)
_COMPACT_RE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})(?:\s*(\d{2})(\d{2})(\d{2})?)?\s*$")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
DATE_ORDERS = ("ymd", "mdy", "dmy")


def normalise_text(text: str) -> str:
    """Full-width digits, letters, punctuation and ideographic spaces as their ASCII forms (NFKC).

    `２０２５－０１－０２　１１：１８：０２` → `2025-01-02 11:18:02`. ASCII text is returned as is
    (the common case costs one `isascii`).
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text)


def parse_datetime(value: Any, order: str = "ymd") -> dt.datetime | None:
    """A date/time in the usual Chinese notations → an aware datetime (naive values are Beijing time).

    2026-11-22, 2026/11/22 14:03, 2026年11月22日, 2026年11月22日 14时03分, 2026.11.22, 20261122,
    20261122140300, ISO 8601 with an offset, Excel serial numbers and cells Excel already typed,
    full-width forms of all of these. Dates with the year last (12/01/2025) are read in the
    source's `order` ("mdy": month first, "dmy": day first); with the default "ymd" they are
    ambiguous and unreadable. Returns None when the value cannot be read.
    """
    parsed = parse_datetime_precision(value, order)
    return parsed[0] if parsed is not None else None


def parse_datetime_precision(value: Any, order: str = "ymd") -> tuple[dt.datetime, bool] | None:
    """`parse_datetime` and whether the value had a time of day (False: a date only)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        # Excel types a date-only cell as midnight: a time of day only when there is one.
        has_time = (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0)
        return (value if value.tzinfo else value.replace(tzinfo=SHANGHAI)), has_time
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=SHANGHAI), False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 < value < 80000:  # an Excel serial day number (1954–2119)
            moment = (_EXCEL_EPOCH + dt.timedelta(days=float(value))).replace(microsecond=0, tzinfo=SHANGHAI)
            return moment, not float(value).is_integer()
        value = cell_text(value)
    text = normalise_text(str(value)).strip()
    if not text:
        return None
    # Fast path: ISO forms (2026-11-22, 2026-11-22 14:03[:05], with T or an offset).
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)), len(text) > 10
    m = _DATE_RE.match(text)
    if m:
        y, mo, d, ampm, h, mi, s = m.groups()
        hour = int(h) if h else 0
        if ampm in ("下午", "晚上") and hour < 12:
            hour += 12
        try:
            moment = dt.datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(s or 0), tzinfo=SHANGHAI)
        except ValueError:
            return None
        return moment, h is not None
    m = _COMPACT_RE.match(text)
    if m:
        y, mo, d, h, mi, s = m.groups()
        try:
            moment = dt.datetime(
                int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=SHANGHAI
            )
        except ValueError:
            return None
        return moment, h is not None
    if order != "ymd":
        m = _DAY_MONTH_YEAR_RE.match(text)
        if m:
            a, b, y, h, mi, s = m.groups()
            mo, d = (a, b) if order == "mdy" else (b, a)
            try:
                moment = dt.datetime(
                    int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=SHANGHAI
                )
            except ValueError:
                return None
            return moment, h is not None
    return None


def parse_decimal(value: Any) -> Decimal | None:
    """An amount: `1,234.50`, `￥1234.5`, `1234.5元`; raises ValueError when it is not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    text = str(value).strip().replace(",", "").replace("，", "").replace("￥", "").replace("¥", "")
    text = text.removesuffix("元").strip()
    if not text:
        return None
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(text)


def is_total_row(cells: list[str]) -> bool:
    """A totals row (合计/总计 …) at the bottom of an Excel report: its first non-empty cell says so."""
    return footer_kind(cells) == "total"


def footer_kind(cells: list[str]) -> str | None:
    """ "total" for a totals row (合计/总计 …), "signature" for a sign-off line (制表人：… 审核人：…),
    else None — decided by the row's first non-empty cell."""
    for c in cells:
        if c:
            if c[0] in "合总小共":
                s = c.replace(" ", "").replace("：", "").replace(":", "")
                if any(s.startswith(m) for m in TOTAL_MARKERS):
                    return "total"
            if c[0] in _SIGNATURE_FIRST:
                s = normalise_text(c).replace(" ", "")
                if any(s.startswith(m) for m in SIGNATURE_MARKERS):
                    return "signature"
            return None
    return None


_SIGNATURE_FIRST = frozenset(m[0] for m in SIGNATURE_MARKERS)


def read_text_sample(path: Path, limit: int = 4096) -> str:
    """The start of a text file (for messages about unreadable files)."""
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, errors="replace") as f:
        return f.read(limit)


__all__ = [
    "FileFormatError",
    "cell_text",
    "combine_header_rows",
    "detect_encoding",
    "header_matches",
    "footer_kind",
    "is_total_row",
    "normalise_text",
    "locate_header",
    "locate_header_rows",
    "open_rows",
    "parse_datetime",
    "parse_datetime_precision",
    "parse_decimal",
]
