"""Issue 19, the write paths alone: create, batch, accept and add_note as bench/speed19.py measures them.

    python bench/create20.py --db sqlite [--repeat 30] [--dump] [--profile]
    scripts/pg_cluster.sh .venv/bin/python bench/create20.py --db postgresql

The same data set (bench/dataset.py: 100k cases, 30 % open, speed19's seed), users, bodies and
figures (CPU ms of this process per request plus, on PostgreSQL, the server's CPU) as speed19's write
part, without its reads: a quick before/after of the write path, run in two checkouts side by side.
`--dump` prints the statements of one request of each kind, `--profile` the cProfile of 20 creates.
The result goes to bench/results/speed20/create20-<db>-<tree>.json.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shared import RESULTS_DIR  # noqa: E402
from speed19 import BATCH_ITEMS, DAYS, OPEN_SHARE, SEED, _figure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--dump", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    tree = HERE.parent.name
    from common import setup_django
    from dataset import prepare

    url, info = prepare(
        f"create20_{tree.replace('-', '_')}", args.db, args.total, days=DAYS, open_share=OPEN_SHARE, seed=SEED
    )
    setup_django("create20", args.db, url)

    from bench_core import complaint_body
    from django.db import connection
    from django.test import Client

    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import Case
    from kesu.cases.services import perform, register_case
    from kesu.org.models import ApiToken

    org = ensure_org()
    intake, handler = org.users["intake"], org.users["handler"]
    client = Client()
    client.force_login(intake)
    _t, key = ApiToken.issue(intake, "create20", scopes=["*"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    counter = itertools.count(1)

    def create() -> None:
        r = client.post(
            "/api/v1/cases",
            data=json.dumps(complaint_body(next(counter)), ensure_ascii=False),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **auth,
        )
        assert r.status_code == 201, (r.status_code, r.content[:300])

    def batch() -> None:
        body = {"items": [complaint_body(next(counter)) for _ in range(BATCH_ITEMS)]}
        r = client.post(
            "/api/v1/intake/batch",
            data=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            **auth,
        )
        assert r.status_code == 200, (r.status_code, r.content[:300])

    pending = [
        register_case(actor=intake, data=complaint_body(next(counter))).case.pk
        for _ in range(args.repeat + 5)
    ]
    mine = list(
        Case.objects.filter(handler=handler, status="investigating").values_list("pk", flat=True)[:50]
    )
    notes = iter(mine * 100)

    def accept() -> None:
        perform(pending.pop(), "accept", intake)

    def add_note() -> None:
        perform(next(notes), "add_note", handler, text="已电话联系客户，说明理赔进度。")

    if args.dump:
        for label, fn in (("create", create), ("accept", accept), ("add_note", add_note)):
            fn()
            sql: list[str] = []

            def keep(execute, s, params, many, context, sql=sql):
                sql.append(s)
                return execute(s, params, many, context)

            with connection.execute_wrapper(keep):
                fn()
            print(f"==== {label}: {len(sql)} statements")
            for s in sql:
                print("   ", s[:200])
    figures: dict[str, Any] = {}
    figures["create_api"] = _figure(create, repeat=args.repeat, goal=6.0)
    f = _figure(batch, repeat=args.batches, warmup=0)
    f["items_per_request"] = BATCH_ITEMS
    f["cases_per_cpu_second"] = round(BATCH_ITEMS / (f["cpu_ms"] / 1000), 1)
    f["queries_per_case"] = round(f["queries"] / BATCH_ITEMS, 2)
    figures["batch"] = f
    figures["perform_accept"] = _figure(accept, repeat=args.repeat, goal=8.0)
    figures["perform_add_note"] = _figure(add_note, repeat=args.repeat, goal=8.0)
    for k, v in figures.items():
        print(k, v, flush=True)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(20):
            create()
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats("kesu/", 60)
        stats.sort_stats("tottime").print_stats(25)
        prof = cProfile.Profile()
        prof.enable()
        batch()
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats("kesu/", 40)
    out = {
        "tree": tree,
        "db": args.db,
        "vendor": connection.vendor,
        "cases_at_start": info.get("cases", args.total),
        "figures": figures,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg(),
    }
    path = RESULTS_DIR / "speed20" / f"create20-{args.db}-{tree}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
