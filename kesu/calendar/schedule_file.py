"""Reading a year's official holiday schedule from a small TOML, JSON or CSV file.

TOML / JSON:
    year = 2027
    [[holidays]]            # a range or a list of dates
    name = "春节"
    start = "2027-02-05"
    end = "2027-02-11"
    [[workdays]]            # adjusted working days (调休上班)
    name = "春节"
    dates = ["2027-02-20"]

CSV: header `date,kind,name` with kind `holiday` or `workday` (or 休 / 班).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tomllib
from pathlib import Path


class ScheduleError(ValueError):
    pass


def _dates(item: dict) -> list[dt.date]:
    def d(v) -> dt.date:
        return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))

    if "dates" in item:
        return [d(x) for x in item["dates"]]
    if "date" in item:
        return [d(item["date"])]
    if "start" in item:
        a, b = d(item["start"]), d(item.get("end", item["start"]))
        if b < a or (b - a).days > 31:
            raise ScheduleError(f"日期范围无效：{a}–{b}")
        return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]
    raise ScheduleError("每项须有 date、dates 或 start/end")


def parse_schedule(text: str, fmt: str) -> tuple[int, list[tuple[dt.date, str]], list[tuple[dt.date, str]]]:
    fmt = fmt.lower().lstrip(".")
    try:
        if fmt == "csv":
            holidays, workdays = [], []
            for row in csv.DictReader(io.StringIO(text)):
                day = dt.date.fromisoformat(row["date"].strip())
                kind = (row.get("kind") or "").strip().lower()
                name = (row.get("name") or "").strip()
                if kind in ("holiday", "休", "放假"):
                    holidays.append((day, name))
                elif kind in ("workday", "adjusted_workday", "班", "上班"):
                    workdays.append((day, name))
                else:
                    raise ScheduleError(f"未知类型：{kind}")
            years = {d.year for d, _ in holidays + workdays}
            if len(years) != 1:
                raise ScheduleError("文件须恰好包含一个年份的安排")
            return years.pop(), holidays, workdays
        doc = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        if isinstance(exc, ScheduleError):
            raise
        raise ScheduleError(f"文件格式有误：{exc}")
    if "year" not in doc:
        raise ScheduleError("缺少 year")
    holidays = [(d, str(i.get("name", ""))) for i in doc.get("holidays", []) for d in _dates(i)]
    workdays = [
        (d, str(i.get("name", "")))
        for i in doc.get("workdays", doc.get("adjusted_workdays", []))
        for d in _dates(i)
    ]
    return int(doc["year"]), holidays, workdays


def read_schedule(path: str | Path):
    p = Path(path)
    return parse_schedule(p.read_text(encoding="utf-8"), p.suffix or "toml")
