"""The README's speed table is generated from bench/results/speed19.json (bench/speed19.py --readme):
every figure of issue 19 gets a row with its goal, and met / not met is read from the figure, not
from a wall time."""

from __future__ import annotations

import sys

from tests.servers import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import speed19  # noqa: E402


def _figure(cpu_ms: float, goal: float | None, queries: int = 3, **extra) -> dict:
    f = {"cpu_ms": cpu_ms, "cpu_ms_median": cpu_ms, "queries": queries, **extra}
    if goal is not None:
        f["goal_cpu_ms"], f["meets_goal"] = goal, cpu_ms <= goal
    return f


def _doc() -> dict:
    figures = {
        key: _figure(5.0, goal) for key, (_label, goal, unit) in speed19.FIGURES.items() if unit == "ms"
    }
    figures["case_page"] = _figure(40.0, 15.0, queries=33)
    figures["batch"] = {"cases_per_cpu_second": 1500.0, "queries_per_case": 4.0, "meets_goal": True}
    figures["sweep"] = {
        "cpu_seconds": 12.0,
        "seconds": 30.0,
        "queries": 14000,
        "examined": 7000,
        "db_cpu_seconds": None,
        "escalations": 7000,
        "queries_per_escalation": 1.5,
        "peak_rss_mb": 90.0,
        "meets_goal": False,
    }
    pg = {"figures": {k: {**v, "db_cpu_ms_mean": 1.5} for k, v in figures.items() if "cpu_ms" in v}}
    return {
        "date": "2026-12-07T18:00:00Z",
        "commit": "abc1234",
        "label": "test",
        "total": 100_000,
        "databases": {"sqlite": {"figures": figures}, "postgresql": pg},
        "load_check": speed19.load_check_summary(
            {
                "db": "postgresql",
                "sizes": {"requests": 8000, "server": {"kind": "gunicorn", "workers": 2, "threads": 4}},
                "results": {
                    "throughput_rps": 210.0,
                    "latency_ms": {"p50_ms": 60.0, "p95_ms": 350.0},
                    "server_cpu_ms_per_request": 8.0,
                    "verification": {"ok": True},
                },
            }
        ),
    }


def test_every_figure_has_a_row_with_its_goal_and_whether_it_is_met():
    table = speed19.readme_table(_doc())
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for key, (label, _goal, _unit) in speed19.FIGURES.items():
        if key not in speed19.QUEUES:
            assert any(row.startswith(f"| {label} |") for row in rows), key
    case_page = next(r for r in rows if r.startswith("| case page"))
    assert "| ≤ 15 ms |" in case_page and "40 [33 q] ✗" in case_page
    # PostgreSQL's cell carries the database server's share; SQLite runs in the process
    assert "(db" not in case_page.split("|")[3] and "40 (db 1.5) [33 q] ✗" in case_page.split("|")[4]
    sweep = next(r for r in rows if r.startswith("| first sweep"))
    assert "12.0 CPU s" in sweep and sweep.split("|")[3].strip().endswith("90 MB ✗")
    assert any("1,500 cases/CPU-s" in r and "✓" in r for r in rows)


def test_the_load_check_row_fails_on_a_slow_p95_even_at_enough_requests_per_second():
    doc = _doc()
    assert doc["load_check"]["meets_goal"] is False  # 210 requests/s, but p95 350 ms ≥ 300 ms
    load_row = next(r for r in speed19.readme_table(doc).splitlines() if r.startswith("| no-loss load check"))
    assert "210.0 requests/s" in load_row and "gunicorn 2×4" in load_row and load_row.endswith("✗ |")
