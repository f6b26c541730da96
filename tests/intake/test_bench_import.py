"""The import benchmark's harness (bench/bench_import.py): a run asked for SQLite alone starts no
PostgreSQL cluster (it used to start one and leave it idle for the whole run)."""

from __future__ import annotations

import pytest

from bench import bench_import


class _NoCluster:
    def __init__(self) -> None:
        raise AssertionError("a PostgreSQL cluster was started for a SQLite-only run")


@pytest.mark.parametrize(
    ("env", "only_db"),
    [({"BENCH_DBS": "sqlite"}, ""), ({}, "sqlite")],
    ids=["BENCH_DBS=sqlite", "run_all --db sqlite"],
)
def test_a_sqlite_only_run_starts_no_postgresql_cluster(monkeypatch, tmp_path, env, only_db):
    for name in ("BENCH_DBS", "BENCH_PG", "BENCH_PARTIAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BENCH_SIZES", "10")
    monkeypatch.setattr(bench_import, "MODES", ["initial"])
    monkeypatch.setenv("BENCH_OUT", str(tmp_path / "out.json"))
    monkeypatch.setattr(bench_import, "PgCluster", _NoCluster)
    monkeypatch.setattr(bench_import, "cpu_calibration", lambda: 0.0)
    measured = []

    def fake_measure(url, csv_path, mode, sample=0):
        measured.append((url.split(":", 1)[0], mode))
        return {
            "rows": 10,
            "seconds": 1.0,
            "rows_per_second": 10.0,
            "peak_rss_mb": 1.0,
            "cpu_seconds": {"total": 1.0},
        }

    monkeypatch.setattr(bench_import, "measure", fake_measure)
    bench_import.main(only_db)
    assert measured == [("sqlite", "initial")]
