"""Registration reads what it needs once: the active policy once, and none of the rows a case gets only
once it exists (its stage deadlines, rollup key and close time) — issue 19, the create path."""

from __future__ import annotations

import pytest

from kesu.sla.models import StageDeadline
from tests import factories
from tests.sql import statements

pytestmark = pytest.mark.django_db


def test_registration_reads_the_policy_once_and_no_rows_of_the_new_case(org):
    factories.make_case(org.intake)  # caches warm (policy rules, calendar)
    result: list = []
    sql = statements(lambda: result.append(factories.make_case(org.intake)))

    selects = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
    assert sum('FROM "policy_policy"' in s for s in selects) == 1, selects
    for table in ("sla_stagedeadline", "analytics_casecountkey", "analytics_caseclosetime"):
        assert not any(f'FROM "{table}"' in s for s in selects), table
    assert not any(s.lstrip().upper().startswith("DELETE") for s in sql), sql
    # What was skipped is still written: the stages, and the promise told on the register event.
    case = result[0]
    assert StageDeadline.objects.filter(case=case, stage="answer").exists()
    assert case.events.get(seq=1).payload.get("answer_promise"), case.events.get(seq=1).payload
