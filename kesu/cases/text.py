"""What counts as written text: a required reason or description must say something.

Whitespace alone, or invisible format characters (Unicode category Cf: zero-width spaces and joiners,
direction marks, the byte-order mark …), say nothing; a reason made only of them is no reason.
Every required free-text field (action reasons, the PII reveal reason, the complaint's description)
is checked with `meaningful` so that no path accepts an invisible one.
"""

from __future__ import annotations

import unicodedata


def meaningful(value: str | None) -> str:
    """`value` without whitespace and format characters (Cf); empty when nothing visible was written.

    >>> meaningful("\\u200b \\u200b\\ufeff")
    ''
    >>> meaningful(" 客户\\u200b来电 ")
    '客户来电'
    """
    if not value:
        return ""
    return "".join(ch for ch in str(value) if not ch.isspace() and unicodedata.category(ch) != "Cf")


def is_blank(value: str | None) -> bool:
    """True when `value` has nothing visible in it (see `meaningful`).

    Stops at the first visible character (a complaint's description is checked on every registration;
    building its visible copy read every character)."""
    if not value:
        return True
    return not any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in str(value))
