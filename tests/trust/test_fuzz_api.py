"""Schemathesis against `/api/v1/openapi.json`, in-process through the WSGI app with a valid bearer
token: for every operation (the multipart upload included) a bounded number of generated requests
(`KESU_FUZZ_EXAMPLES`, default 3, in each of the positive and the negative generation mode) must
never produce a 5xx; every error must be JSON `{"code", "message", "details"}`, and positive requests
must get responses that conform to the documented schema. Bounded to stay under a minute here."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from kesu.org.models import ApiToken
from tests import factories

EXAMPLES = int(os.environ.get("KESU_FUZZ_EXAMPLES", 3))


def assert_json_error(response) -> None:
    """Every 4xx is the API's error shape, never Django's HTML or an empty body."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (
        response.status_code,
        content_type,
        response.text[:300],
    )
    body = response.json()
    assert {"code", "message", "details"} <= set(body), body


def _runner(op, numbers: list[str], headers: dict[str, str], mode: GenerationMode = GenerationMode.POSITIVE):
    counter = {"n": 0}
    # Negative requests are off-schema by design; their answer is checked for the error shape only.
    checks = [not_a_server_error]
    if mode == GenerationMode.POSITIVE:
        checks.append(response_schema_conformance)

    @given(case=op.as_strategy(generation_mode=mode))
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
        case.validate_response(response, checks=checks)
        assert_json_error(response)

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
    seen: set[str] = set()
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        seen.add(f"{op.method.upper()} {op.path}")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _runner(op, numbers, headers, mode)()
            except Unsatisfiable:  # nothing off-schema to generate (e.g. a body that is any JSON)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failing operation
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {str(exc)[:1500]}")
    cache.clear()
    assert operations > 50
    assert "POST /api/v1/cases/{number}/attachments" in seen  # multipart is fuzzed too
    assert not failures, "\n\n".join(failures)
