"""What reacts to a case event: the one list `settings.KESU_CASE_EVENT_SUBSCRIBERS`, called in its order.

`perform` and `register_case` call `notify(case, event, rules)` inside their transaction, after the
action's handler has changed the case and before the event row is written; the bulk importer calls
`notify_imported(chunk)` once per chunk, inside the chunk's transaction. A reader finds in settings
everything that happens after an event; `kesu.cases` imports none of the apps that react (they sit in
higher layers, see docs/architecture.md), it only loads the modules the list names.

A subscriber is a module with

    on_event(case, event, rules) -> None
        `event` is the CaseEvent about to be written (no primary key yet). A subscriber may add keys
        to `event.payload` (what it computed becomes part of the immutable record, e.g. an
        extension's new due date), write its own rows, or refuse the action by raising a
        `kesu.errors.DomainError`: the whole transaction, the case's change included, rolls back.

and optionally

    on_events(items: list[tuple[case, event, rules]]) -> None
        the set-based `on_event` for `kesu.cases.services.perform_many`: the same events, in order,
        in one call (e.g. one statement for the set instead of one per case). Without it, `on_event`
        is called per event.

    before_register(case, event, rules) -> None
        a case about to be registered (`register_case`, `register_many`), called before its row is
        inserted (no primary key yet; `event` its register event, unsaved too): what the subscriber
        settles on the case row itself goes into the insert instead of an update after it (the
        deadline engine's binding deadline). Its `on_event` for that registration follows as usual.

    before_update(case, event, rules) -> None
        a case the action's handler has just changed in `perform`, before its row is updated (`event`
        unsaved, its payload as the handler made it): what the subscriber settles on the case row
        itself goes into `perform`'s one UPDATE instead of a second one after it (the deadline
        engine's binding deadline). Its `on_event` for that event follows as usual, in the same
        transaction; it must not depend on what other subscribers' `on_event` add to the payload.

    on_imported(chunk: ImportedChunk) -> None
        what the bulk importer wrote in one chunk (rows, not model instances), for the set-based
        equivalent of `on_event` over the imported history.

Not Django signals: the order is fixed and visible, and a failing subscriber fails the action.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


@dataclass
class ImportedChunk:
    """One chunk of a bulk import, as its subscribers see it (inside the chunk's transaction).

    `count_keys`: per created case, the values its day counts are kept under (see
    `kesu.analytics.rollups.COUNT_KEY_COLUMNS`); `close_times`: (case_id, closed_at, working_hours) of
    the closed history; `changed_case_ids`: earlier cases that this chunk updated in place;
    `insert_rows(model, columns, rows)`: the importer's fast insert (COPY on PostgreSQL).
    """

    count_keys: list[tuple] = field(default_factory=list)
    close_times: list[tuple] = field(default_factory=list)
    changed_case_ids: list[int] = field(default_factory=list)
    insert_rows: Callable[[Any, Sequence[str], list], None] | None = None


@functools.cache
def subscribers() -> tuple[ModuleType, ...]:
    return tuple(import_module(path) for path in settings.KESU_CASE_EVENT_SUBSCRIBERS)


def notify(case, event, rules) -> None:
    """Every subscriber's `on_event`, in the list's order (inside the caller's transaction)."""
    for subscriber in subscribers():
        subscriber.on_event(case, event, rules)


def before_register(case, event, rules) -> None:
    """Every subscriber's `before_register`, for those that have one (the case not yet inserted)."""
    for subscriber in subscribers():
        hook = getattr(subscriber, "before_register", None)
        if hook is not None:
            hook(case, event, rules)


def before_update(case, event, rules) -> None:
    """Every subscriber's `before_update`, for those that have one (the case's row not yet updated)."""
    for subscriber in subscribers():
        hook = getattr(subscriber, "before_update", None)
        if hook is not None:
            hook(case, event, rules)


def notify_many(items: Sequence[tuple[Any, Any, Any]]) -> None:
    """Every subscriber once over the set of (case, event, rules) of `perform_many`, in the list's order:
    its `on_events` when it has one, else its `on_event` per event."""
    if not items:
        return
    for subscriber in subscribers():
        hook = getattr(subscriber, "on_events", None)
        if hook is not None:
            hook(list(items))
            continue
        for case, event, rules in items:
            subscriber.on_event(case, event, rules)


def notify_imported(chunk: ImportedChunk) -> None:
    """Every subscriber's `on_imported`, for those that have one."""
    for subscriber in subscribers():
        hook = getattr(subscriber, "on_imported", None)
        if hook is not None:
            hook(chunk)


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "KESU_CASE_EVENT_SUBSCRIBERS":
        subscribers.cache_clear()


setting_changed.connect(_forget, dispatch_uid="kesu-case-event-subscribers")
