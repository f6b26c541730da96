"""Where the database time of an import goes: the normal path against `--initial-load`, per statement.

    scripts/pg_cluster.sh .venv/bin/python bench/profile_initial_load.py bulk 50000
    scripts/pg_cluster.sh bash -c 'for m in bulk initial-before initial initial-nodefer; do
        .venv/bin/python bench/profile_initial_load.py $m 50000; done'

Modes: `bulk` (run_import), `initial` (initial_load as it is), `initial-before` (initial_load with
KEPT as it was before the fix: the case's (customer_id, received_at) index dropped during the load),
`initial-nodefer` (initial_load without `SET CONSTRAINTS ALL DEFERRED`), `initial-nostats` (initial_load
without the in-transaction ANALYZE as the tables grow: the planner keeps the empty tables' statistics),
`reader` (the read-ahead process's work alone: mapping, `prepare` and pickling per chunk, and the
writer's unpickling of the same bytes, CPU seconds each; PROFILE=1 adds a cProfile, saved to
/tmp/reader-initial22.prof; bench/results/speed22/reader-*-initial22-pg.json). CHUNK=N sets the chunk size
(default: the importer's). Empties the public schema of $KESU_DATABASE_URL (a throwaway cluster!)
and prints one `RESULT {json}` line (CPU seconds of writer, reader and PostgreSQL backend, and the
backend's CPU inside ANALYZE) followed by the statements that took the most time on the client's
clock. bench/results/import-initial-load-fix-50k.json holds a run.
"""

from __future__ import annotations

import collections
import gc
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


def reader_only(rows: int) -> None:
    """The reader process's work alone (`reader` mode): read, map and `prepare` the file's chunks and
    pickle each as the read-ahead queue does, without writing; prints its CPU seconds, the pickled
    bytes, and the top of a cProfile when PROFILE=1. Needs a migrated database only for the policy
    and calendars (it writes nothing)."""
    import cProfile
    import itertools
    import pickle
    import pstats

    url = os.environ["KESU_DATABASE_URL"]
    csv_path = Path(tempfile.gettempdir()) / f"kesu-profile-import-{rows}.csv"
    if not csv_path.exists():
        B.generate_csv(csv_path, rows)
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    B._setup(url)
    from kesu.intake import services as S
    from kesu.intake.initial import row_counts

    assert not any(row_counts().values())
    source = B._source()
    from kesu.intake.mapping import FIELDS, RowMapper
    from kesu.intake.options import SourceOptions, identity
    from kesu.intake.parsers import locate_header_rows, open_rows
    from kesu.intake.updates import SystemWriter
    from kesu.policy.selectors import active_policy, rules_for

    policy = active_policy()
    rules = rules_for(policy)
    data, _fmt, _enc, close = open_rows(csv_path)
    wanted = {name: list(aliases) for name, (_label, aliases) in FIELDS.items()}
    names, _before, _header, first = locate_header_rows(data, wanted)
    mapper = RowMapper(
        names=names,
        mapping=source.mapping,
        value_maps=source.value_maps,
        defaults=source.defaults,
        rules=rules,
        options=SourceOptions.of(source),
    )
    writer = SystemWriter(
        columns=frozenset(mapper.columns),
        source=identity(source),
        batch_id=1,
        rules=rules,
        policy_id=policy.pk,
    )
    chunks = S._mapped_chunks(itertools.chain(first, data), mapper, S.DEFAULT_CHUNK_SIZE, 0, None)
    profile = cProfile.Profile() if os.environ.get("PROFILE") else None
    size = 0
    parts = {"map": 0.0, "prepare": 0.0, "pickle": 0.0, "unpickle_in_writer": 0.0}
    gc.disable()  # as in the read-ahead child (kesu.intake.services._produce)
    clock = time.process_time
    t0 = clock()
    if profile:
        profile.enable()
    while True:
        a = clock()
        chunk = next(chunks, None)
        b = clock()
        if chunk is None:
            break
        writer.prepare(chunk.records)
        c = clock()
        data_bytes = pickle.dumps(chunk)  # the queue's protocol (multiprocessing's ForkingPickler)
        d = clock()
        size += len(data_bytes)
        parts["map"] += b - a
        parts["prepare"] += c - b
        parts["pickle"] += d - c
        if not profile:  # the writer's side of the pipe, measured here and not counted as the reader's
            pickle.loads(data_bytes)
            parts["unpickle_in_writer"] += clock() - d
    if profile:
        profile.disable()
    cpu = clock() - t0 - parts["unpickle_in_writer"]
    close()
    result = {
        "mode": "reader",
        "rows": rows,
        "reader_cpu": round(cpu, 2),
        "pickled_mb": round(size / 1e6, 1),
        "parts": {k: round(v, 2) for k, v in parts.items()},
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    print("RESULT", json.dumps(result))
    if profile:
        profile.dump_stats("/tmp/reader-initial22.prof")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def main(mode: str, rows: int) -> None:
    if mode == "reader":
        return reader_only(rows)
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
