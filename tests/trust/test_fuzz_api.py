"""Schemathesis against `/api/v1/openapi.json`, in-process through the WSGI app with a valid bearer
token: for every operation a bounded number of generated requests (`KESU_FUZZ_EXAMPLES`, default 15)
must never produce a 5xx, and every response must conform to the documented schema."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from kesu.org.models import ApiToken
from tests import factories

EXAMPLES = int(os.environ.get("KESU_FUZZ_EXAMPLES", 15))


def _runner(op, numbers: list[str], headers: dict[str, str]):
    counter = {"n": 0}

    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        counter["n"] += 1
        # Half of the requests address a real case, so the code behind the 404 is exercised too.
        if case.path_parameters and "number" in case.path_parameters and counter["n"] % 2:
            case.path_parameters["number"] = numbers[counter["n"] % len(numbers)]
        # A savepoint per request: one failing request must not poison the test's transaction.
        with transaction.atomic():
            response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    return run


@pytest.mark.slow
def test_api_fuzz_no_server_errors_and_schema_conformance(org):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from kesu.wsgi import application

    # Called directly, the WSGI handler closes "old" connections at the start and end of every request
    # — on PostgreSQL that is the test's own connection, inside its transaction. Django's test client
    # disconnects these handlers for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        _fuzz(org, application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(org, application) -> None:
    from django.core.cache import cache

    cache.clear()
    numbers = [factories.make_case(org.intake).number for _ in range(2)]
    _, key = ApiToken.issue(org.supervisor, "fuzz", scopes=["*"])
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        try:
            _runner(op, numbers, headers)()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failing operation
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:1500]}")
    cache.clear()
    assert operations > 50
    assert not failures, "\n\n".join(failures)
