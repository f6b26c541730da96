"""Issue 19, the create path: CPU ms and queries of `POST /api/v1/cases` and `POST /api/v1/intake/batch`.

    python bench/profile_create.py --db sqlite|postgresql --cases 100000 [--profile] [--tag NAME]

Generates `--cases` cases (bench/common.generate_cases, 30% open), then measures in this process
(time.process_time, the steady figure on a loaded machine; on PostgreSQL without the server's CPU):

* create_api: a new customer each time (the common case);
* create_api_repeat: a customer with earlier complaints (the same-matter lookup has history to read);
* batch_endpoint: 200 new complaints in one request (cases per CPU-second, queries per case).

`--profile` prints the cProfile of one create (cumulative, top 40). Run it in two checkouts to compare:
the result is written to bench/results/speed19/create-<db>-<tag>.json.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_figure, generate_cases, log, setup_django  # noqa: E402
from shared import RESULTS_DIR  # noqa: E402

BATCH = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--tag", default="")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    tag = args.tag or Path(__file__).resolve().parents[1].name
    setup_django(f"create-{tag}", args.db)

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import Case, Customer
    from kesu.org.models import ApiToken

    org = ensure_org()
    log(f"generating {args.cases} cases …")
    gen = generate_cases(args.cases, open_share=0.3, seed=2, now=timezone.now())
    log(f"  {gen.cases} cases in {gen.seconds:.1f}s")
    intake = org.users["intake"]
    _token, key = ApiToken.issue(intake, "bench", scopes=["*"])
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    counter = itertools.count()

    def complaint(phone: str | None = None) -> dict:
        n = next(counter)
        return {
            "channel": "phone",
            "kind": "complaint",
            "category": "claims.delay" if n % 2 else "service.attitude",
            "description": f"住院理赔材料已提交{20 + n % 30}天仍未赔付，客服只说在审核中。（压测 {n}）",
            "demands": "尽快赔付",
            "subject_no": f"PB{n:010d}",
            "customer": {"name": f"压测客户{n}", "phone": phone or f"1390{n:07d}"},
        }

    def post(path: str, body: dict, status: int) -> None:
        r = client.post(
            path,
            data=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **auth,
        )
        if r.status_code != status:
            raise RuntimeError(f"{path} answered {r.status_code}: {r.content[:300]!r}")

    # The customer with the longest history among the generated ones.
    busiest = (
        Case.objects.exclude(customer=None)
        .values("customer_id")
        .order_by()
        .annotate(n=__import__("django.db.models", fromlist=["Count"]).Count("pk"))
        .order_by("-n")
        .first()
    )
    repeat_phone = Customer.objects.get(pk=busiest["customer_id"]).phone
    figures: dict = {}
    figures["create_api"] = cpu_figure(lambda: post("/api/v1/cases", complaint(), 201), repeat=args.repeat)
    log(f"create_api {figures['create_api']}")
    figures["create_api_repeat"] = cpu_figure(
        lambda: post("/api/v1/cases", complaint(repeat_phone), 201), repeat=args.repeat
    )
    figures["create_api_repeat"]["earlier_complaints_of_customer"] = busiest["n"]
    log(f"create_api_repeat {figures['create_api_repeat']}")
    batch = cpu_figure(
        lambda: post("/api/v1/intake/batch", {"items": [complaint() for _ in range(BATCH)]}, 200),
        repeat=max(3, args.repeat // 10),
    )
    batch["items_per_request"] = BATCH
    batch["cases_per_cpu_second"] = round(BATCH / (batch["cpu_ms_median"] / 1000), 1)
    batch["queries_per_case"] = round(batch["queries"] / BATCH, 2)
    figures["batch_endpoint"] = batch
    log(f"batch {batch}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(20):
            post("/api/v1/cases", complaint(repeat_phone), 201)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
        prof = cProfile.Profile()
        prof.enable()
        post("/api/v1/intake/batch", {"items": [complaint() for _ in range(BATCH)]}, 200)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    out = {
        "tree": tag,
        "db": args.db,
        "cases": Case.objects.count(),
        "generated": args.cases,
        "figures": figures,
        "vendor": connection.vendor,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg(),
    }
    path = RESULTS_DIR / "speed19" / f"create-{args.db}-{args.cases}-{tag}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
