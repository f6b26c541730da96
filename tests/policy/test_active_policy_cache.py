"""`active_policy()` is cached per process behind one cheap check that sees an activation by any
process (issue 19)."""

from __future__ import annotations

import pytest

from kesu.policy.models import Policy
from kesu.policy.selectors import active_policy, rules_for
from kesu.policy.services import load_preset
from tests.sql import statements

pytestmark = pytest.mark.django_db


def test_the_active_policy_is_read_once_then_checked_by_one_small_query():
    first = load_preset("general")
    assert active_policy().pk == first.pk
    sql = statements(lambda: (active_policy(), active_policy().code, rules_for(active_policy()).code))
    assert len(sql) == 3 and all("document" not in s and "policy_policy" in s for s in sql), sql


def test_an_activation_by_another_process_is_seen_at_once():
    first = load_preset("general")
    assert active_policy().version == first.version
    # Another process activates a new version: this process's caches are not told.
    second = Policy.objects.create(
        code="hotel", name="x", version=first.version + 1, is_active=False, document=first.document
    )
    Policy.objects.filter(pk=first.pk).update(is_active=False)
    Policy.objects.filter(pk=second.pk).update(is_active=True)
    assert active_policy().pk == second.pk and active_policy().code == "hotel"
