"""Text no database column can hold, and the storage form of times for raw SQLite writes.

JSON may spell a NUL character (\\u0000) or an unpaired surrogate (\\ud800); Python decodes them,
and PostgreSQL then refuses the row half-way through a write. No complaint text legitimately
contains them, so every JSON door (the API parser, signed webhooks) refuses them up front.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_EIGHT_HOURS = dt.timedelta(hours=8)


def unstorable_text(value: Any) -> str | None:
    """Why `value` (decoded JSON) cannot be stored, or None when it can."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "text contains a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "text contains an unpaired surrogate"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def sqlite_datetime(value: dt.datetime) -> str:
    """Django's SQLite storage form of an aware datetime (naive UTC "YYYY-MM-DD HH:MM:SS[.ffffff]"),
    for the bulk paths that write rows without the ORM and its per-value checks."""
    if value.tzinfo is SHANGHAI and value.year >= 1992:  # a fixed +08:00 since 1992: no zone lookup
        return (value.replace(tzinfo=None) - _EIGHT_HOURS).isoformat(" ")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
