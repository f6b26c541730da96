"""Run every benchmark (`bench/bench_*.py`) on SQLite and, when available, PostgreSQL.

    python bench/run_all.py [--db sqlite|postgresql ...] [--only core,sla]

`make bench` runs this inside a throwaway PostgreSQL cluster (scripts/pg_cluster.sh), which sets
KESU_PG_URL. Without one, only SQLite runs (and the summary says so). BENCH_SCALE=small makes every
benchmark quick; BENCH_ONLY=name[,name] selects benchmarks. Each run writes
bench/results/<name>-<db>.json; a summary of the run goes to bench/results/summary.json.
Last, bench/speed19.py records issue 19's figures beside their goals in bench/results/speed19.json
(`--only speed19` runs just that; `make bench-speed` runs it with the load check). The exit status is
non-zero when any benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shared import RESULTS_DIR, SCALE, pg_base_url  # noqa: E402


def discover(only: list[str]) -> list[Path]:
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only]
    return scripts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"], help="default: both")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""), help="comma-separated names")
    args = parser.parse_args()

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    dbs = args.db or ["sqlite", "postgresql"]
    notes = []
    if "postgresql" in dbs and pg_base_url() is None:
        dbs = [d for d in dbs if d != "postgresql"]
        notes.append("PostgreSQL skipped: no cluster (run `make bench`, or set BENCH_PG_URL)")
        print(notes[-1], flush=True)
    scripts = discover(only)
    if not scripts:
        print("no benchmarks found", file=sys.stderr)
        return 1

    runs = []
    failed = False
    for script in scripts:
        for db in dbs:
            name = script.stem.removeprefix("bench_")
            print(f"\n=== {name} on {db} (BENCH_SCALE={SCALE}) ===", flush=True)
            t0 = time.perf_counter()
            rc = subprocess.call([sys.executable, str(script), "--db", db], cwd=str(HERE.parent))
            took = round(time.perf_counter() - t0, 1)
            result = RESULTS_DIR / f"{name}-{db}.json"
            runs.append({"name": name, "db": db, "exit": rc, "seconds": took, "result": str(result.name)})
            failed |= rc != 0
            print(f"--- {name} on {db}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {took}s", flush=True)

    # Issue 19's figures beside their goals (bench/speed19.py: its own data sets, both databases in one
    # JSON, the load check's figures read from load-postgresql.json written above).
    if not only or "speed19" in only:
        print(f"\n=== speed19 on {', '.join(dbs)} (BENCH_SCALE={SCALE}) ===", flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, str(HERE / "speed19.py")] + [f"--db={db}" for db in dbs]
        rc = subprocess.call(cmd, cwd=str(HERE.parent))
        took = round(time.perf_counter() - t0, 1)
        runs.append(
            {"name": "speed19", "db": "+".join(dbs), "exit": rc, "seconds": took, "result": "speed19.json"}
        )
        failed |= rc != 0

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    summary = {"scale": SCALE, "runs": runs, "notes": notes, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    print("\n=== summary ===")
    for r in runs:
        status = "ok" if r["exit"] == 0 else f"FAILED ({r['exit']})"
        print(f"  {r['name']:<16} {r['db']:<11} {status:<12} {r['seconds']:>7}s  bench/results/{r['result']}")
    for note in notes:
        print(f"  note: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
