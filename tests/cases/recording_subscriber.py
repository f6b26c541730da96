"""A case-event subscriber for tests: records what it saw, refuses when told to."""

from __future__ import annotations

from kesu.errors import Conflict

seen: list[tuple[str, str, int, bool]] = []
refuse_action: str | None = None


def on_event(case, event, rules) -> None:
    seen.append(("recorder", event.action, event.seq, event.pk is None))
    if event.action == refuse_action:
        raise Conflict("refused by the test subscriber", code="refused")
    event.payload["recorded"] = True
