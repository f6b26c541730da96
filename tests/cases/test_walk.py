"""kesu.cases.walk: the helper that drives a case through `perform` for the demo builder and the tests."""

from __future__ import annotations

import pytest

from kesu.cases.models import Status
from kesu.cases.services import perform
from kesu.cases.walk import Cast, UnexpectedStatus, Walk, walk_to
from kesu.errors import VersionConflict
from tests import factories

pytestmark = pytest.mark.django_db


def cast(o, **overrides) -> Cast:
    approvers = {"supervisor": o.supervisor, "cs_manager": o.manager, "general_manager": o.gm}
    return Cast(
        intake=o.intake,
        handler=o.handler,
        approver=approvers.__getitem__,
        followup=o.followup,
        archivist=o.archivist,
        **overrides,
    )


def test_walk_to_archived_goes_through_the_approval_chain_and_keeps_a_true_timeline(org):
    walk = Walk(factories.make_case(org.intake))
    remedy = {"remedy_type": "compensation", "amount": "5000", "description": "赔偿损失"}

    walk_to(walk, Status.ARCHIVED, cast(org, remedy=remedy))

    assert walk.case.status == Status.ARCHIVED
    assert walk.timeline() == walk.expected
    actions = [action for _seq, action, _from, _to in walk.expected]
    assert actions[:5] == ["register", "accept", "assign", "start_investigation", "propose_remedy"]
    assert "approve" in actions and actions[-3:] == ["close", "follow_up", "archive"]


@pytest.mark.parametrize(
    "status", [Status.ACCEPTED, Status.ASSIGNED, Status.INVESTIGATING, Status.RESPONDING]
)
def test_walk_to_stops_at_the_target(org, status):
    walk = walk_to(Walk(factories.make_case(org.intake)), status, cast(org))

    walk.case.refresh_from_db()
    assert walk.case.status == status
    assert walk.timeline() == walk.expected


def test_walk_to_a_status_the_remedy_does_not_reach_is_an_error(org):
    # An explanation needs no approval: the case goes from investigating straight to responding.
    with pytest.raises(UnexpectedStatus):
        walk_to(Walk(factories.make_case(org.intake)), Status.PENDING_APPROVAL, cast(org))


def test_a_walk_that_lost_track_of_its_case_is_refused(org):
    case = factories.make_case(org.intake)
    walk = Walk(case)
    # Someone else accepts the case through another instance: the walk's copy is stale.
    perform(case.pk, "accept", org.intake)

    with pytest.raises(VersionConflict):
        walk("assign", org.intake, handler=org.handler.pk)


def test_expect_checks_the_status_after_the_step(org):
    walk = Walk(factories.make_case(org.intake))

    with pytest.raises(UnexpectedStatus):
        walk("accept", org.intake, expect=Status.ASSIGNED)
