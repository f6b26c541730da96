"""Driving a registered case through `perform`: the one helper the demo builder and the tests share.

`Walk` performs the actions of one case with the version it holds (so a walk that lost track of
its case fails with 409 instead of acting on something it did not see), at its clock (`now`; None:
the real time), and keeps the timeline it expects, (seq, action, from, to), to compare with the
stored events. `walk_to` takes a case along the usual path to a target status, each step done by
the person whose job it is (the `Cast`).

Nothing here bypasses the lifecycle: every step is a `perform`, with its permission checks,
events and subscribers, so a walked case is indistinguishable from one worked by people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from kesu.cases.actions.after_closing import follow_up_from
from kesu.cases.models import Case, CaseEvent, Status
from kesu.cases.services import perform
from kesu.policy.selectors import rules_for


class UnexpectedStatus(AssertionError):
    """A step ended in another status than the walk expected: a bug in the walk or in the lifecycle."""


class Walk:
    """Performs actions on one just-registered case and keeps the expected timeline."""

    def __init__(self, case: Case, *, now: dt.datetime | None = None) -> None:
        self.case = case
        self.now = now
        self.expected: list[tuple[int, str, str, str]] = [(1, "register", "", case.status)]

    def __call__(
        self,
        action: str,
        actor: Any,
        *,
        expect: str | None = None,
        now: dt.datetime | None = None,
        **data: Any,
    ) -> CaseEvent:
        """Perform `action` as `actor` (at `now`, else at the walk's clock); `expect`: the status after it."""
        before = self.case.status
        if action == "follow_up" and now is None:
            now = self._follow_up_time()
        event = perform(
            self.case, action, actor, expected_version=self.case.version, now=now or self.now, **data
        )
        after = self.case.status
        if expect is not None and after != expect:
            raise UnexpectedStatus(f"{action}: {before} → {after}, expected {expect}")
        self.expected.append((len(self.expected) + 1, action, before, after))
        return event

    def _follow_up_time(self) -> dt.datetime | None:
        """The follow-up call waits for its window (001 篇9: day 5 after closing, 09:00 that day): the
        walk's clock (even one that followed the real time) moves on to it, so later steps come after."""
        earliest = follow_up_from(self.case, rules_for(self.case.policy_id))
        if earliest is None or (self.now or timezone.now()) >= earliest:
            return self.now
        self.now = earliest + dt.timedelta(hours=9)
        return self.now

    def timeline(self) -> list[tuple[int, str, str, str]]:
        """The stored events of the case as (seq, action, from, to), to compare with `expected`."""
        return list(
            CaseEvent.objects.filter(case=self.case)
            .order_by("seq")
            .values_list("seq", "action", "from_status", "to_status")
        )


@dataclass(frozen=True)
class Cast:
    """Who does what on the usual path: the intake agent accepts and assigns, the handler works the
    case, `approver(role)` approves at each step of a proposal's chain, the follow-up agent calls the
    customer back after closing (a satisfied call, which archiving a complaint requires), the
    archivist archives."""

    intake: Any
    handler: Any
    approver: Callable[[str], Any] | None = None
    followup: Any = None
    archivist: Any = None
    # None: the category's responsible department (谁主管谁负责), as a person assigning would get.
    department: str | None = None
    remedy: dict[str, Any] = field(
        default_factory=lambda: {"remedy_type": "explanation", "description": "已向客户解释说明"}
    )


# The usual path: the status each step reaches, in order. `propose_remedy` reaches pending_approval
# or responding depending on the remedy; the approvals then lead to responding.
USUAL_PATH: tuple[str, ...] = (
    Status.ACCEPTED,
    Status.ASSIGNED,
    Status.INVESTIGATING,
    Status.PENDING_APPROVAL,
    Status.RESPONDING,
    Status.CLOSED,
    Status.ARCHIVED,
)


def walk_to(walk: Walk, status: str, cast: Cast) -> Walk:
    """Take the walk's case along the usual path until it is in `status` (one of USUAL_PATH)."""
    if status not in USUAL_PATH:
        raise ValueError(f"{status} is not on the usual path {USUAL_PATH}")
    case = walk.case
    target = USUAL_PATH.index(status)
    while case.status != status:
        if case.status not in USUAL_PATH[: target + 1] and case.status != Status.REGISTERED:
            raise UnexpectedStatus(f"walking to {status}, the case went to {case.status}")
        _step(walk, cast)
    return walk


def _step(walk: Walk, cast: Cast) -> None:
    """The one action that moves the case on from where it is, by the person whose job it is."""
    case = walk.case
    if case.status == Status.REGISTERED:
        walk("accept", cast.intake, expect=Status.ACCEPTED)
    elif case.status == Status.ACCEPTED:
        target = {"department": cast.department} if cast.department else {}
        walk("assign", cast.intake, handler=cast.handler.pk, expect=Status.ASSIGNED, **target)
    elif case.status == Status.ASSIGNED:
        walk("start_investigation", cast.handler, contacted_customer=True, expect=Status.INVESTIGATING)
    elif case.status == Status.INVESTIGATING:
        walk("propose_remedy", cast.handler, **cast.remedy)
    elif case.status == Status.PENDING_APPROVAL:
        if cast.approver is None:
            raise UnexpectedStatus("the remedy needs approval and the cast has no approver")
        role = case.proposals.order_by("-pk").first().next_role
        walk("approve", cast.approver(role), comment="同意")
    elif case.status == Status.RESPONDING:
        walk("reply", cast.handler, text=cast.remedy.get("description", "已答复客户"), method="phone")
        walk("close", cast.handler, criterion="accepted", expect=Status.CLOSED)
    elif case.status == Status.CLOSED:
        if cast.followup is not None and not case.follow_ups.exists():
            walk("follow_up", cast.followup, score=5, comment="满意", expect=Status.CLOSED)
        walk("archive", cast.archivist, expect=Status.ARCHIVED)
    else:
        raise UnexpectedStatus(f"no usual next step from {case.status}")
