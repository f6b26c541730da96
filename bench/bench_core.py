"""Issue 2: create-complaint throughput (service layer and API) and list-with-filters latency on 100k cases.

    python bench/bench_core.py --db sqlite|postgresql          (BENCH_SCALE=small for a quick check)

1. 100k cases (10% open) are bulk-generated (bench/common.generate_cases).
2. Create through the service: `register_case` N times on top of them (grading looks up the customer's
   earlier complaints, numbering locks the day's counter). Baseline: a bare ORM insert of a case and
   its first event (no validation, customer lookup, grading or SLA) — the floor the service adds to.
3. Create through the API: POST /api/v1/cases with a bearer token and an Idempotency-Key (JSON in,
   JSON detail out) via Django's test client (no network, no web server).
4. List with filters: `kesu.cases.selectors.list_cases` + the first page (50 rows, with the related
   rows the list shows), for a company-wide supervisor and for a department head (scoped query).
   Baseline: the naive way — load every case row and filter/sort in Python.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid

from common import BenchContext, bench_main, generate_cases, log, measure, size, throughput

PAGE = 50


def run(ctx: BenchContext) -> dict:
    from django.utils import timezone

    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import Case

    total = size(100_000, 5_000)
    creates = size(500, 50)
    api_creates = size(300, 30)
    list_repeat = size(15, 5)
    naive_repeat = size(3, 2)
    org = ensure_org()
    now = timezone.now()

    log(f"generating {total} cases …")
    gen = generate_cases(total, open_share=0.1, seed=2, now=now - dt.timedelta(minutes=1))
    log(f"  {gen.cases} cases, {gen.events} events in {gen.seconds:.1f}s ({gen.cases_per_second}/s)")

    results: dict = {"generate_bulk": gen.as_dict()}
    baseline: dict = {}
    notes: list[str] = [
        "Times are wall-clock on a shared 2-core machine; compare numbers within one run.",
        "Create through the service and the API runs on top of the generated cases (repeat detection and "
        "numbering see them).",
    ]

    # --- create through the service ----------------------------------------------------------------
    from kesu.cases.services import register_case

    intake = org.users["intake"]
    counter = itertools.count()

    def complaint(i: int) -> dict:
        n = next(counter)
        return {
            "channel": "phone",
            "kind": "complaint",
            "category": "claims.delay" if n % 2 else "service.attitude",
            "description": f"住院理赔材料已提交{20 + n % 30}天仍未赔付，客服只说在审核中。（压测 {n}）",
            "demands": "尽快赔付",
            "subject_no": f"PB{n:010d}",
            "customer": {"name": f"压测客户{n}", "phone": f"1390{n:07d}", "policy_no": f"PB{n:010d}"},
        }

    log(f"register_case × {creates} …")
    results["create_service"] = throughput(lambda i: register_case(actor=intake, data=complaint(i)), creates)
    log(f"  {results['create_service']['per_second']}/s, median {results['create_service']['median_ms']} ms")

    # Baseline: a bare ORM insert (number from the counter, the case row and its register event).
    from django.db import transaction

    from kesu.cases import chain
    from kesu.cases.models import CaseEvent
    from kesu.cases.numbering import next_case_number
    from kesu.policy.models import Channel
    from kesu.policy.selectors import active_policy

    policy = active_policy()
    phone = Channel.objects.get(code="phone")

    def bare_insert(i: int) -> None:
        t = timezone.now()
        with transaction.atomic():
            case = Case.objects.create(
                number=next_case_number(t),
                channel=phone,
                received_at=t,
                description="基准插入",
                policy_id=policy.pk,
                created_by=intake,
            )
            chain.seal(
                CaseEvent(
                    case=case, seq=1, actor=intake, action="register", to_status="registered", created_at=t
                ),
                chain.GENESIS,
            ).save(force_insert=True)

    baseline["create_bare_orm_insert"] = throughput(bare_insert, creates)
    log(f"  baseline bare insert {baseline['create_bare_orm_insert']['per_second']}/s")

    # --- create through the API ----------------------------------------------------------------------
    from django.test import Client

    from kesu.org.models import ApiToken

    _token, key = ApiToken.issue(intake, "bench", scopes=["*"])
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    probe = client.post(
        "/api/v1/cases",
        data=json.dumps(complaint(0), ensure_ascii=False),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        **headers,
    )
    if probe.status_code in (404, 405):
        results["create_api"] = {
            "skipped": f"POST /api/v1/cases answered {probe.status_code}: endpoint missing"
        }
        log("  API create skipped: endpoint missing")
    elif probe.status_code not in (200, 201):
        raise SystemExit(f"POST /api/v1/cases answered {probe.status_code}: {probe.content[:300]!r}")
    else:

        def api_create(i: int) -> None:
            r = client.post(
                "/api/v1/cases",
                data=json.dumps(complaint(i), ensure_ascii=False),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
                **headers,
            )
            if r.status_code != 201:
                raise RuntimeError(f"API create answered {r.status_code}: {r.content[:300]!r}")

        log(f"POST /api/v1/cases × {api_creates} …")
        results["create_api"] = throughput(api_create, api_creates)
        log(f"  {results['create_api']['per_second']}/s, median {results['create_api']['median_ms']} ms")

    # --- list with filters -----------------------------------------------------------------------------
    from kesu.cases.selectors import CaseFilters, list_cases

    supervisor = org.users["supervisor"]
    head = org.users["claims_head"]
    handler = org.users["handler"]
    month_ago = now - dt.timedelta(days=30)
    week_ago = now - dt.timedelta(days=7)
    filters: dict[str, CaseFilters] = {
        "no_filter": CaseFilters(),
        "open": CaseFilters(open_only=True),
        "status_investigating_major": CaseFilters(status=["investigating"], level=["major", "crisis"]),
        "department_claims_subtree": CaseFilters(department="CLAIMS"),
        "category_claims_last_30d": CaseFilters(category="claims", received_from=month_ago),
        "channel_phone_last_7d": CaseFilters(channel=["phone"], received_from=week_ago),
        "overdue": CaseFilters(overdue=True),
        "handler_open": CaseFilters(handler=handler.pk, open_only=True),
        "text_search": CaseFilters(text="赔款"),
    }

    def first_page(user, f: CaseFilters) -> int:
        return len(list(list_cases(user, f)[:PAGE]))

    listing: dict = {}
    for who, user in (("supervisor", supervisor), ("dept_head", head)):
        for label, f in filters.items():
            if who == "dept_head" and label in ("text_search", "channel_phone_last_7d"):
                continue
            key = f"{who}:{label}"
            stats = measure(lambda u=user, f=f: first_page(u, f), repeat=list_repeat)
            stats["rows"] = first_page(user, f)
            listing[key] = stats
            log(
                f"  list {key}: median {stats['median_ms']} ms, p95 {stats['p95_ms']} ms ({stats['rows']} rows)"
            )
    results["list_first_page"] = listing

    # Baseline: load every row and filter in Python (what a naive report or export would do).
    fields = ["pk", "number", "status", "level", "received_at", "department__path", "description", "due_at"]

    def naive(pred) -> int:
        rows = list(Case.objects.values(*fields).iterator(chunk_size=5000))
        hits = [r for r in rows if pred(r)]
        hits.sort(key=lambda r: (r["received_at"], r["pk"]), reverse=True)
        return len(hits[:PAGE])

    open_statuses = {"registered", "accepted", "assigned", "investigating", "pending_approval", "responding"}
    naive_filters = {
        "open": lambda r: r["status"] in open_statuses,
        "department_claims_subtree": lambda r: "/CLAIMS/" in (r["department__path"] or ""),
        "overdue": lambda r: r["status"] in open_statuses and r["due_at"] is not None and r["due_at"] < now,
        "text_search": lambda r: "赔款" in r["description"],
    }
    naive_results = {}
    for label, pred in naive_filters.items():
        naive_results[f"supervisor:{label}"] = measure(lambda p=pred: naive(p), repeat=naive_repeat, warmup=0)
        log(f"  baseline naive {label}: median {naive_results[f'supervisor:{label}']['median_ms']} ms")
    baseline["list_naive_python_filter"] = naive_results

    return {
        "sizes": {
            "cases": Case.objects.count(),
            "generated_cases": gen.cases,
            "generated_events": gen.events,
            "open_share": 0.1,
            "service_creates": creates,
            "api_creates": api_creates,
            "page_size": PAGE,
            "list_repeats": list_repeat,
        },
        "results": results,
        "baseline": baseline,
        "notes": notes,
    }


if __name__ == "__main__":
    bench_main("core", run, description=__doc__)
