"""Issue 19, the case page and its similar-cases panel (loaded after the page since casepage20), each
alone: CPU ms per request (process + on PostgreSQL the database server's CPU) and queries per request.

    .venv/bin/python bench/casepage20.py --db sqlite
    scripts/pg_cluster.sh .venv/bin/python bench/casepage20.py --db postgresql [--total 1000000]

Same data set and requests as bench/speed19.py's `case_page` and `case_similar` (supervisor, the 200
newest open cases in rotation). On a checkout before the panel was split off (no `/similar/` URL) only
the page is measured — that page still held the panel. Prints one JSON object (and writes it to --out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed19 import OPEN_SHARE, _figure, _setup, default_total  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--total", type=int, default=0, help="cases (default: speed19's)")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    total = args.total or default_total()
    _setup("casepage20" if total == default_total() else "casepage20_large", args.db, total, OPEN_SHARE)
    from django.test import Client

    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import OPEN_STATUSES, Case

    org = ensure_org()
    client = Client()
    client.force_login(org.users["supervisor"])
    numbers = list(
        Case.objects.filter(status__in=OPEN_STATUSES)
        .order_by("-received_at")
        .values_list("number", flat=True)[:200]
    )
    has_fragment = client.get(f"/cases/{numbers[0]}/similar/").status_code == 200
    out = {"db": args.db, "total": total, "root": str(HERE.parent), "label": args.label}

    def measure(suffix: str) -> dict:
        rotation = iter(numbers[1:] * 100)

        def get() -> None:
            r = client.get(f"/cases/{next(rotation)}/{suffix}")
            assert r.status_code == 200, r.status_code

        for _ in range(5):
            get()  # warm caches (vectors, policy) as a serving process has them
        return _figure(get, repeat=args.repeat)

    out["case_page"] = measure("")
    if has_fragment:
        out["case_similar"] = measure("similar/")
        out["page_plus_similar_cpu_ms"] = round(out["case_page"]["cpu_ms"] + out["case_similar"]["cpu_ms"], 2)
    text = json.dumps(out, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
