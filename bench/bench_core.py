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

from common import (
    BenchContext,
    bench_main,
    cpu_figure,
    generate_cases,
    log,
    log_figure,
    measure,
    size,
    throughput,
)

PAGE = 50
# "Speed where people wait": CPU ms per request at 100k cases (SQLite and PostgreSQL).
GOALS_CPU_MS = {"create_api": 6.0, "perform_action": 8.0, "api_open_queue": 10.0}
GOAL_BATCH_CASES_PER_S = 1000.0
BATCH = 200


def complaint_body(n: int) -> dict:
    """The n-th benchmark complaint (a new customer each, two categories in turn); also bench/speed19.py."""
    return {
        "channel": "phone",
        "kind": "complaint",
        "category": "claims.delay" if n % 2 else "service.attitude",
        "description": f"住院理赔材料已提交{20 + n % 30}天仍未赔付，客服只说在审核中。（压测 {n}）",
        "demands": "尽快赔付",
        "subject_no": f"PB{n:010d}",
        "customer": {"name": f"压测客户{n}", "phone": f"1390{n:07d}", "policy_no": f"PB{n:010d}"},
    }


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
        "results.goals: CPU ms per request of this process (time.process_time; on PostgreSQL the database "
        "server's CPU is not included), wall ms beside it, the queries of one request, and the goal.",
    ]

    # --- create through the service ----------------------------------------------------------------
    from kesu.cases.services import register_case

    intake = org.users["intake"]
    counter = itertools.count()

    def complaint(i: int) -> dict:
        return complaint_body(next(counter))

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

    # --- the figures with their goals: CPU ms per request and queries per request ------------------------
    log("goals (CPU ms per request, queries per request) …")
    goal_repeat = size(30, 8)
    goals: dict = {}
    if "skipped" not in results.get("create_api", {}):
        goals["create_api"] = cpu_figure(
            lambda: api_create(0), repeat=goal_repeat, goal_cpu_ms=GOALS_CPU_MS["create_api"]
        )
        log_figure("create POST /api/v1/cases", goals["create_api"])

    pending = [register_case(actor=intake, data=complaint(0)).case.pk for _ in range(goal_repeat + 3)]

    def accept_one() -> None:
        from kesu.cases.services import perform

        perform(pending.pop(), "accept", intake)

    goals["perform_action"] = cpu_figure(
        accept_one, repeat=goal_repeat, goal_cpu_ms=GOALS_CPU_MS["perform_action"]
    )
    log_figure("perform(accept)", goals["perform_action"])

    _stoken, skey = ApiToken.issue(supervisor, "bench-queue", scopes=["*"])

    def api_queue() -> None:
        r = client.get("/api/v1/cases?open_only=true&limit=25", HTTP_AUTHORIZATION=f"Bearer {skey}")
        assert r.status_code == 200, r.status_code

    goals["api_open_queue"] = cpu_figure(
        api_queue, repeat=goal_repeat, goal_cpu_ms=GOALS_CPU_MS["api_open_queue"]
    )
    log_figure("GET /api/v1/cases?open_only=true&limit=25", goals["api_open_queue"])

    def batch() -> None:
        body = {"items": [complaint(0) for _ in range(BATCH)]}
        r = client.post(
            "/api/v1/intake/batch",
            data=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            **headers,
        )
        assert r.status_code == 200, (r.status_code, r.content[:300])

    figure = cpu_figure(batch, repeat=size(3, 1))
    figure["items_per_request"] = BATCH
    figure["cases_per_cpu_second"] = round(BATCH / (figure["cpu_ms_median"] / 1000), 1)
    figure["queries_per_case"] = round(figure["queries"] / BATCH, 1)
    figure["goal_cases_per_second"] = GOAL_BATCH_CASES_PER_S
    figure["meets_goal"] = figure["cases_per_cpu_second"] >= GOAL_BATCH_CASES_PER_S
    goals["batch_endpoint"] = figure
    log(
        f"  POST /api/v1/intake/batch ({BATCH} items): {figure['cases_per_cpu_second']} cases per CPU-second, "
        f"{figure['queries_per_case']} queries per case (goal ≥ {GOAL_BATCH_CASES_PER_S})"
    )
    results["goals"] = goals

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
