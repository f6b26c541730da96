"""Under concurrent load nothing is lost and nothing is doubled (issue 8, the short bounded form).

The real server (gunicorn, several workers) runs on 127.0.0.1 against a copy of the migrated test
database; 8 client threads × 25 requests create complaints with idempotency keys (retried, abandoned
and retried), send batches, act with current and stale `expected_version`, and read. Afterwards the
database must hold every acknowledged case exactly once with a complete timeline (bench.loadcheck).
The longer run is `bench/bench_load.py` (make bench). Timings are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import factories
from tests.servers import ROOT, copy_of_test_database


@pytest.mark.slow
def test_concurrent_clients_lose_and_double_nothing(transactional_db, tmp_path):
    url, drop = copy_of_test_database(tmp_path)
    out = tmp_path / "load.json"
    env = {**os.environ, "KESU_LOG_LEVEL": "WARNING"}
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadcheck",
                "--database-url",
                url,
                "--threads",
                "8",
                "--requests",
                "25",
                "--workers",
                "2",
                "--json",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        drop()
    print(proc.stdout)
    if proc.returncode == 3:
        pytest.skip(f"the server could not start on 127.0.0.1: {proc.stderr[-2000:]}")
    assert out.exists(), proc.stderr[-4000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    verification, summary = report["verification"], report["summary"]
    assert verification["problems"] == [], proc.stdout + report.get("server_log_tail", "")
    assert verification["five_xx"] == 0
    # The load did what it says: creates (with retries and abandoned requests), batches, actions and
    # refused stale actions all happened, and each acknowledged case is in the database.
    assert summary["logical_creates"] > 0 and summary["batch_items"] > 0
    assert summary["actions_ok"] > 0 and summary["by_op"]["stale_action"]["statuses"].get("409", 0) > 0
    assert verification["cases"] == summary["logical_creates"] + summary["batch_items"]
    # The CPU per request by side (/proc), the figure that holds on a shared host: the servers worked.
    cpu = report["cpu"]
    assert cpu["seconds"]["servers"] > 0 and cpu["server_side_ms_per_request"] > 0
    assert len(cpu["load_average_before"]) == 3
    assert proc.returncode == 0, proc.stderr[-4000:]


def _ledger_of(o, cases):
    """What clients would have been told about `cases` (created through the real service)."""
    from bench.loadcheck import Ledger

    ledger = Ledger()
    for i, case in enumerate(cases):
        ledger.creates[f"key-{i}"] = {"number": case.number, "text": case.description, "answers": [201]}
    return ledger


def test_the_verification_notices_a_lost_a_doubled_and_a_refused_but_applied_request(org):
    from bench.loadcheck import Actors, verify
    from kesu.cases.services import perform, register_case

    o = org
    actors = Actors("", "", "", o.handler.pk, o.intake.pk)
    data = [factories.complaint_data() for _ in range(2)]
    cases = [
        register_case(actor=o.intake, data=d, idempotency_key=f"key-{i}").case for i, d in enumerate(data)
    ]
    ledger = _ledger_of(o, cases)
    assert verify(ledger, actors)["problems"] == []

    # a double: the same complaint registered again without its key
    register_case(actor=o.intake, data=data[0])
    problems = verify(ledger, actors)["problems"]
    assert any("2 cases with its text" in p for p in problems)
    assert any("never acknowledged" in p for p in problems)

    # a loss: a client was told of a case the database does not hold
    ledger = _ledger_of(o, cases)
    ledger.creates["key-9"] = {"number": "TS199901010001", "text": "不存在", "answers": [201]}
    assert any(p.startswith("lost: create key-9") for p in verify(ledger, actors)["problems"])

    # a request answered 409 whose change is in the timeline anyway
    ledger = _ledger_of(o, cases)
    perform(cases[1], "accept", o.intake, expected_version=1)
    ledger.acted[cases[1].number] += 1
    perform(cases[1], "assign", o.intake, expected_version=2, handler=o.handler.pk, note="压测n1")
    ledger.conflicts.append((cases[1].number, "压测n1", 1))
    problems = verify(ledger, actors)["problems"]
    assert any("refused with 409" in p for p in problems)
    assert any("1 + 1 actions were acknowledged" in p for p in problems)
