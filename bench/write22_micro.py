"""The write path's pieces alone, process CPU ms (median), for a before/after in two checkouts side by side.

    python bench/create20.py --db sqlite --repeat 5    # once: builds var/bench/create20_<tree>.sqlite3
    python bench/write22_micro.py                       # SQLite, on a copy of that database
    scripts/pg_cluster.sh python bench/write22_micro.py --db postgresql   # a fresh small database

SQLite: `find_customer` of a new complainant (phone and policy number), `register_case`, `perform`
accept, and `register_many` of 100 new complainants, on the 100k data set of bench/create20.py.
PostgreSQL: the batch, `register_case` and accept on a freshly migrated database (process CPU only,
not the server's). Alternate the two checkouts, at least twice each: the machine is shared.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def med(fn, n: int = 150) -> float:
    for _ in range(10):
        fn()
    ts = []
    for _ in range(n):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    ts.sort()
    return round(ts[len(ts) // 2] * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    tree = HERE.parent.name
    from common import setup_django
    from shared import SCRATCH_DIR

    if args.db == "sqlite":
        src = SCRATCH_DIR / f"create20_{tree.replace('-', '_')}.sqlite3"
        dst = SCRATCH_DIR / f"write22_micro_{tree.replace('-', '_')}.sqlite3"
        shutil.copyfile(src, dst)
        setup_django("write22_micro", "sqlite", f"sqlite:///{dst}")
    else:
        setup_django(f"write22_micro_{tree.replace('-', '_')}", "postgresql")
    from bench_core import complaint_body

    from kesu.cases.customers import find_customer
    from kesu.cases.demo.company import ensure_org
    from kesu.cases.services import perform, register_case, register_many
    from kesu.policy.selectors import NoActivePolicy, active_policy
    from kesu.policy.services import load_preset

    try:
        active_policy()
    except NoActivePolicy:
        load_preset("insurance")
    intake = ensure_org().users["intake"]
    c = itertools.count(1_000_000)  # a fresh copy or database each run: no earlier complainant
    out = {}
    if args.db == "sqlite":
        out["find_customer"] = med(lambda: find_customer(phone=f"139{next(c):08d}", policy_no=f"PB{next(c)}"))
    out["register_case"] = med(lambda: register_case(actor=intake, data=complaint_body(next(c))), 100)
    pending = [register_case(actor=intake, data=complaint_body(next(c))).case.pk for _ in range(110)]
    out["accept"] = med(lambda: perform(pending.pop(), "accept", intake), 100)
    register_many(intake, [complaint_body(next(c)) for _ in range(100)])
    ts = []
    for _ in range(7):
        items = [complaint_body(next(c)) for _ in range(100)]
        t = time.process_time()
        register_many(intake, items)
        ts.append(time.process_time() - t)
    out["batch100"] = round(sorted(ts)[3] * 1000, 1)
    print(tree, args.db, out)


if __name__ == "__main__":
    main()
