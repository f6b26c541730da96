"""Where the database time of an import goes: the normal path against `--initial-load`, per statement.

    scripts/pg_cluster.sh .venv/bin/python bench/profile_initial_load.py bulk 50000
    scripts/pg_cluster.sh bash -c 'for m in bulk initial-before initial initial-nodefer; do
        .venv/bin/python bench/profile_initial_load.py $m 50000; done'

Modes: `bulk` (run_import), `initial` (initial_load as it is), `initial-before` (initial_load with
KEPT as it was before the fix: the case's (customer_id, received_at) index dropped during the load),
`initial-nodefer` (initial_load without `SET CONSTRAINTS ALL DEFERRED`), `initial-nostats` (initial_load
without the in-transaction ANALYZE as the tables grow: the planner keeps the empty tables' statistics). CHUNK=N sets the chunk size
(default: the importer's). Empties the public schema of $KESU_DATABASE_URL (a throwaway cluster!)
and prints one `RESULT {json}` line (CPU seconds of writer, reader and PostgreSQL backend, and the
backend's CPU inside ANALYZE) followed by the statements that took the most time on the client's
clock. bench/results/import-initial-load-fix-50k.json holds a run.
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import as B  # noqa: E402  (the dataset, setup and CPU clocks of the import benchmark)

OLD_KEPT = (("Customer", ("phone",)), ("Customer", ("id_number",)), ("Case", ("customer_id",)))


def _shape(sql: str) -> str:
    """The statement with its parameters and literal numbers folded, to group the chunks' queries."""
    sql = re.sub(r"%s(, %s)*", "?", sql)
    sql = re.sub(r"\(\?\)(, \(\?\))*", "(?..)", sql)
    return re.sub(r"\b\d+\b", "N", sql)[:300]


def main(mode: str, rows: int) -> None:
    import psycopg

    url = os.environ["KESU_DATABASE_URL"]
    chunk = int(os.environ.get("CHUNK", 10_000))
    csv_path = Path(tempfile.gettempdir()) / f"kesu-profile-import-{rows}.csv"
    if not csv_path.exists():
        B.generate_csv(csv_path, rows)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    B._setup(url)
    from django.db import connection

    from kesu.cases import models as case_models
    from kesu.intake import initial
    from kesu.intake.services import run_import

    clocks = B.CpuClocks()
    stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    analyze_cpu = 0.0

    def timed(execute, sql, params, many, context):
        nonlocal analyze_cpu
        if mode == "initial-nodefer" and sql.startswith("SET CONSTRAINTS"):
            return None
        before = B._process_cpu_seconds(clocks.backend) if sql.startswith("ANALYZE") else None
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = stats[_shape(sql)]
            entry[0] += 1
            entry[1] += time.perf_counter() - t0
            if before is not None:
                analyze_cpu += B._process_cpu_seconds(clocks.backend) - before

    if mode == "initial-nostats":
        initial._StatisticsAsTablesGrow.enabled = False
        initial._StatisticsAsTablesGrow.__init__ = lambda self, progress: setattr(self, "progress", progress)
    if mode == "initial-before":
        initial.KEPT = frozenset((getattr(case_models, m), cols) for m, cols in OLD_KEPT)
    source = B._source()
    with connection.execute_wrapper(timed):
        clocks.start()
        t0 = time.perf_counter()
        if mode == "bulk":
            batch = run_import(source, csv_path, chunk_size=chunk)
        else:
            batch = initial.initial_load(source, csv_path, chunk_size=chunk)
        elapsed = time.perf_counter() - t0
        cpu = clocks.stop()
    assert batch.state == "completed" and batch.created == rows, batch.error
    result = {
        "mode": mode,
        "rows": rows,
        "chunk": chunk,
        "wall": round(elapsed, 2),
        "cpu": cpu,
        "analyze_server_cpu": round(analyze_cpu, 2),
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    print("RESULT", json.dumps(result))
    for sql, (count, seconds) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:10]:
        print(f"{seconds:8.2f}s {count:6d}  {sql}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
