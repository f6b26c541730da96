"""Text no database column can hold.

JSON may spell a NUL character (\\u0000) or an unpaired surrogate (\\ud800); Python decodes them,
and PostgreSQL then refuses the row half-way through a write. No complaint text legitimately
contains them, so every JSON door (the API parser, signed webhooks) refuses them up front.
"""

from __future__ import annotations

from typing import Any


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
