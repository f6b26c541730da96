"""Where people wait, the number of queries does not grow with the number of cases.

Each test measures one hot path at two database sizes (cases copied with bulk inserts,
tests/perf/bulk.py) and asserts the same number of queries: a path that reads a customer's or a
category's history row by row, or loops over cases with one query each, would grow between them.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from kesu.cases.models import Case, PanelReview, Proposal
from kesu.cases.services import perform
from kesu.org.models import ApiToken
from kesu.sla.models import StageDeadline
from kesu.sla.sweeper import sweep
from kesu.web.models import ReplyTemplate
from tests import factories
from tests.cases.helpers import Walk
from tests.perf.bulk import clone_cases

pytestmark = pytest.mark.django_db

SIZES = (20, 200)
OPEN_QUEUE = "/cases/?" + "&".join(
    f"status={s}"
    for s in ("registered", "accepted", "assigned", "investigating", "pending_approval", "responding")
)


class Counted:
    """Counts the statements sent (an execute wrapper: the test client's request_started signal empties
    the query log that CaptureQueriesContext reads), and keeps them."""

    def __init__(self):
        self.n = 0
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        self.sql.append(sql)
        return execute(sql, params, many, context)


def queries(fn, *, warm: bool = True) -> int:
    """Queries of one call of `fn` (after an untimed call, so per-process caches are warm)."""
    if warm:
        fn()
    counted = Counted()
    with connection.execute_wrapper(counted):
        fn()
    return counted.n


def investigating(org) -> Case:
    case = factories.make_case(org.intake)
    walk = Walk(case)
    walk("accept", org.intake)
    walk("assign", org.intake, handler=org.handler.pk)
    walk("start_investigation", org.handler, contacted_customer=True)
    return case


@pytest.fixture
def world(org):
    """`grow(n)`: bring the database to about `n` cases, half open in investigation, half registered."""
    templates = {"open": investigating(org), "registered": factories.make_case(org.intake)}
    made: dict[str, list[Case]] = {"open": [], "registered": []}

    def grow(n: int) -> dict[str, list[Case]]:
        missing = max(0, n - Case.objects.count())
        made["open"] += clone_cases(templates["open"], missing // 2)
        made["registered"] += clone_cases(templates["registered"], missing - missing // 2)
        return made

    grow.templates = templates
    return grow


def by_size(world, measure) -> dict[int, int]:
    counts = {}
    for n in SIZES:
        world(n)
        counts[n] = measure()
    print(counts)
    return counts


def session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_api_open_queue(org, world):
    _token, key = ApiToken.issue(org.supervisor, "perf", scopes=["*"])
    client = Client()

    def get():
        r = client.get("/api/v1/cases?open_only=true&limit=25", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert r.status_code == 200 and r.json()["items"]

    counts = by_size(world, lambda: queries(get))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_html_open_queue(org, world):
    client = session(org.supervisor)

    def get():
        r = client.get(OPEN_QUEUE)
        assert r.status_code == 200

    counts = by_size(world, lambda: queries(get))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


# The case page of a case in investigation (its events and deadlines, none of the optional rows), warm:
# session, user, the case (with which related sets have rows), the audit row (PostgreSQL: one statement;
# SQLite: savepoint, read, insert, update, release), the stamps, deadlines, timeline, unread count.
CASE_PAGE_QUERIES = {"sqlite": 13, "postgresql": 9}


def test_case_page(org, world):
    client = session(org.supervisor)
    number = world.templates["open"].number

    def get():
        r = client.get(f"/cases/{number}/")
        assert r.status_code == 200 and number in r.content.decode()

    counts = by_size(world, lambda: queries(get))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts
    assert counts[SIZES[0]] <= CASE_PAGE_QUERIES[connection.vendor], counts


# The case's optional rows: most cases have none of them, and its page reads none of their tables then
# (the case's own statement says which sets have rows; kesu.web.selectors.CaseReads).
OPTIONAL_TABLES = (
    "cases_collaborationrequest",
    "cases_panelreview",
    "cases_proposal",
    "cases_accountability",
    "cases_emergencyplan",
    "cases_typicalcase",
    "cases_followup",
    "cases_attachment",
    "cases_regulatorsubmission",
    "cases_archiveaccessrequest",
    Case.involved_staff.through._meta.db_table,
)


def test_case_page_reads_no_table_of_an_empty_set(org, world):
    case = world.templates["open"]
    for who in ("supervisor", "handler", "quality_head", "intake"):
        client = session(getattr(org, who))
        client.get(f"/cases/{case.number}/")  # warm
        counted = Counted()
        with connection.execute_wrapper(counted):
            r = client.get(f"/cases/{case.number}/")
        assert r.status_code == 200 and case.number in r.content.decode()
        read = {t: n for t in OPTIONAL_TABLES if (n := reads_of(counted.sql, t))}
        assert not read, (who, read)


def test_case_page_reads_its_reply_templates_once_per_purpose(org, world):
    """The reply form's draft and its template picker share one read of the templates per purpose, and
    the placeholders' 处理方式 comes from the page's proposals (three reads of each before)."""
    case = world.templates["open"]
    Walk(case)("propose_remedy", org.handler, remedy_type="explanation", amount="0", description="说明")
    ReplyTemplate.objects.create(name="答复", body="{客户姓名}：{处理方式}")
    ReplyTemplate.objects.create(name="门户", purpose=ReplyTemplate.Purpose.PORTAL, body="{案件编号}")
    client = session(org.handler)
    client.get(f"/cases/{case.number}/?act=reply")
    counted = Counted()
    with connection.execute_wrapper(counted):
        r = client.get(f"/cases/{case.number}/?act=reply")
    html = r.content.decode()
    remedy = str(Proposal.objects.get(case=case).get_remedy_type_display())
    assert 'id="action-reply"' in html and f"：{remedy}" in html
    assert reads_of(counted.sql, "web_replytemplate") == 2, counted.sql
    assert reads_of(counted.sql, "cases_proposal") == 1, counted.sql


def reads_of(sql: list[str], table: str) -> int:
    """The SELECTs that read `table` itself (their first FROM; not a subquery of another read)."""
    return sum(1 for q in sql if q.lstrip().upper().startswith("SELECT") and _main_table(q) == table)


def _main_table(sql: str) -> str:
    sql = re.sub(r"EXISTS \(SELECT 1 FROM [^)]*\)", "", sql)  # the case's own read asks which sets have rows
    found = re.search(r'\bFROM "(\w+)"', sql)
    return found.group(1) if found else ""


# The case's own rows that its page shows in panels and its action forms choose from.
CASE_ROW_TABLES = (
    "cases_collaborationrequest",
    "cases_panelreview",
    "cases_proposal",
    "cases_accountability",
    "cases_emergencyplan",
    "cases_typicalcase",
    "sla_stagedeadline",  # the deadline panel and the extension form's open stages
)


def test_case_page_reads_each_kind_of_its_rows_once(org, world):
    """A case with collaboration requests, panels and a proposal: its page reads each of those tables
    once (the panels and the forms that decide them share the read), and the same number of queries
    with twice the rows and at two database sizes."""
    case = world.templates["open"]
    walk = Walk(case)
    pages = {who: session(getattr(org, who)) for who in ("supervisor", "handler", "quality_head")}

    def get(client) -> Counted:
        client.get(f"/cases/{case.number}/")  # warm
        counted = Counted()
        with connection.execute_wrapper(counted):
            r = client.get(f"/cases/{case.number}/")
        assert r.status_code == 200 and case.number in r.content.decode()
        return counted

    def panel(topic: str, participants: list[int]) -> None:
        walk("convene_panel", org.handler, topic=topic, participants=participants)
        review = PanelReview.objects.filter(case=case).latest("pk")
        walk("decide_panel", org.handler, review_id=review.pk, minutes="属实", decision="赔偿 1500 元")

    walk("request_collaboration", org.handler, department="FINANCE", question="请核实付款记录")
    panel("赔偿标准", [org.quality_head.pk, org.handler2.pk])
    before = {who: get(client).n for who, client in pages.items()}
    walk("request_collaboration", org.handler, department="LEGAL", question="请出具法律意见")
    panel("复议", [org.quality_head.pk, org.supervisor.pk])
    after = {who: get(client).n for who, client in pages.items()}
    assert before == after, (before, after)

    walk("propose_remedy", org.handler, remedy_type="compensation", amount="1500", description="赔偿")
    for who, client in pages.items():
        counted = get(client)
        reads = {t: reads_of(counted.sql, t) for t in CASE_ROW_TABLES}
        assert all(n <= 1 for n in reads.values()), (who, reads)
    counts = by_size(world, lambda: get(pages["supervisor"]).n)
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_supervisor_board(org, world):
    """With its lists full (the open cases are major group complaints, escalated): the rows are built
    from the columns read, none read again per row."""
    Case.objects.filter(pk=world.templates["open"].pk).update(level="major", people_count=8)
    walk = Walk(world.templates["open"])
    walk("escalate", org.admin, stage="answer")
    client = session(org.supervisor)

    def get():
        r = client.get("/board/")
        assert r.status_code == 200

    counts = by_size(world, lambda: queries(get))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_analytics_page(org, world):
    client = session(org.manager)

    def get():
        r = client.get("/analytics/")
        assert r.status_code == 200

    counts = by_size(world, lambda: queries(get))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_create_through_the_api(org, world):
    """Registration grades (same-matter lookup over the customer's history), numbers, computes the
    deadlines and writes the event; the customer here has an earlier complaint at both sizes."""
    _token, key = ApiToken.issue(org.intake, "perf", scopes=["*"])
    client = Client()
    phone = world.templates["registered"].customer.phone

    def create():
        body = factories.complaint_data(customer={"name": "回头客", "phone": phone})
        r = client.post(
            "/api/v1/cases",
            data=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert r.status_code == 201, r.content

    counts = by_size(world, lambda: queries(create))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_create_with_a_key_and_a_known_customer(org, world):
    """As the API is called in production: an Idempotency-Key on every create, a customer known by two
    identifiers (phone and policy number) with earlier complaints at both sizes. The customer is found
    by one statement over the identifiers' indexes and the key is not read before the insert."""
    _token, key = ApiToken.issue(org.intake, "perf", scopes=["*"])
    client = Client()
    template = world.templates["registered"].customer
    template.policy_no = "PB0000000001"
    template.save()
    keys = iter(range(100))

    def create():
        customer = {"name": "回头客", "phone": template.phone, "policy_no": template.policy_no}
        body = factories.complaint_data(customer=customer)
        r = client.post(
            "/api/v1/cases",
            data=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_IDEMPOTENCY_KEY=f"perf-{next(keys)}",
        )
        assert r.status_code == 201, r.content

    counts = by_size(world, lambda: queries(create))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_perform_an_action(org, world):
    def accept_one():
        case = world(0)["registered"].pop()
        perform(case, "accept", org.intake)

    counts = by_size(world, lambda: queries(accept_one))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts
    # 36 when the binding deadline was a second update of the case row after perform's own.
    assert counts[SIZES[1]] <= 35, counts


def test_sweep_reads_only_what_is_due(org, world):
    """The same three breached deadlines cost the same queries among 20 or 200 cases."""
    later = timezone.now() + dt.timedelta(days=90)

    def due_set():
        open_cases = world(0)["open"]
        chosen, world(0)["open"][:] = open_cases[-3:], open_cases[:-3]
        # Everything else is checked next year: only the chosen three are due at `later`.
        StageDeadline.objects.update(next_check_at=later + dt.timedelta(days=365))
        StageDeadline.objects.filter(case__in=chosen, state="open").update(next_check_at=later)
        return chosen

    def swept() -> int:
        due_set()
        counted = Counted()
        with connection.execute_wrapper(counted):
            report = sweep(later)
        assert report.examined == 3 and report.breaches == 3 and not report.errors, report
        return counted.n

    world(SIZES[0])
    swept()  # warm: rules, calendar
    counts = by_size(world, swept)
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_batch_endpoint(org, world):
    """A batch of new complaints is one set: its queries grow neither with the database nor with the
    number of items (the per-item path cost about 20 queries per item)."""
    _token, key = ApiToken.issue(org.intake, "perf", scopes=["*"])
    client = Client()

    def batch(n: int):
        def post():
            body = {"items": [factories.complaint_data() for _ in range(n)]}
            r = client.post(
                "/api/v1/intake/batch",
                data=json.dumps(body, ensure_ascii=False),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            )
            assert r.status_code == 200 and r.json()["created"] == n, r.content[:300]

        return post

    counts = by_size(world, lambda: queries(batch(5)))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts
    # Four times the items: at most the extra statements of a bulk insert split at SQLite's limit of
    # bound parameters (a case row has ~60 columns), never ~20 per item.
    assert queries(batch(20)) - counts[SIZES[1]] <= 2, counts


def closed_case(org) -> Case:
    case = investigating(org)
    walk = Walk(case)
    walk("propose_remedy", org.handler, remedy_type="explanation", amount="0", description="换新机")
    walk("reply", org.handler, text="已为您更换新机。")
    walk("close", org.handler, criterion="accepted")
    return case


def test_case_page_and_its_similar_panel(org, world):
    """The page reads no similar-case candidates: the 相似已结案件 panel, whose work grows with the
    finished history, is its own request made after the page (htmx `load`). Neither the page nor the
    panel sends more queries with ten times the history; the panel lists the finished cases."""
    client = session(org.handler)
    case = world.templates["open"]
    template = closed_case(org)
    past: list[Case] = [template]

    def grow(n: int) -> None:
        world(n)
        past.extend(clone_cases(template, max(0, n - len(past))))

    def page() -> Counted:
        client.get(f"/cases/{case.number}/")  # warm
        counted = Counted()
        with connection.execute_wrapper(counted):
            r = client.get(f"/cases/{case.number}/")
        body = r.content.decode()
        assert r.status_code == 200 and f'hx-get="/cases/{case.number}/similar/"' in body
        assert template.number not in body  # the panel is not in the page
        return counted

    def panel() -> int:
        def get():
            r = client.get(f"/cases/{case.number}/similar/")
            assert r.status_code == 200 and template.number in r.content.decode()

        return queries(get)

    counts = {}
    for n in SIZES:
        grow(n)
        counted = page()
        # the candidates' walk (ordered by closing time) is not among the page's queries
        assert not [q for q in counted.sql if 'ORDER BY "cases_case"."closed_at"' in q], counted.sql
        counts[n] = (counted.n, panel())
    print(counts)
    assert counts[SIZES[0]] == counts[SIZES[1]], counts


def test_case_page_and_queue_read_the_pickers_from_the_process(org, world):
    """The action forms' people, department and category pickers and the queue's bulk bar come from the
    per-process lists kept under the organisation's and the taxonomy's stamps (read together in one
    query), not from the tables on every page (forms21)."""
    pages = [
        (org.supervisor, f"/cases/{world.templates['open'].number}/"),  # colleagues, panel members
        (org.intake, f"/cases/{world.templates['registered'].number}/"),  # categories, departments
        (org.supervisor, OPEN_QUEUE),  # the bulk bar's departments and handlers
    ]
    for user, url in pages:
        client = session(user)
        assert client.get(url).status_code == 200  # fills the lists
        counted = Counted()
        with connection.execute_wrapper(counted):
            assert client.get(url).status_code == 200
        # (the timeline's names of the departments it mentions: `"code" IN`, not a list)
        lists = [q for q in counted.sql if 'ORDER BY "org_department"."path"' in q and " IN (" not in q]
        lists += [q for q in counted.sql if _main_table(q) == "policy_category"]
        assert not lists, (url, lists)
        assert sum("_orgstamp" in q for q in counted.sql) == 1, url


def test_html_queue_rows_name_their_relations_from_the_process(org, world):
    """A queue page reads its rows without joining categories, channels, departments and people: their
    names come from the per-process cache under the taxonomy's and the organisation's stamps (queue22;
    on PostgreSQL the joins and their model instances were a third of the page's statement)."""
    world(20)
    client = session(org.supervisor)
    for url in (OPEN_QUEUE, "/queues/unassigned/", f"{OPEN_QUEUE}&cursor=", "/cases/?sort=level"):
        assert client.get(url).status_code == 200  # fills the cache
        counted = Counted()
        with connection.execute_wrapper(counted):
            page = client.get(url).content.decode()
        assert org.handler.first_name in page or "investigating" not in url
        rows = [q for q in counted.sql if _main_table(q) == "cases_case" and "COUNT(" not in q]
        assert rows and not any(" JOIN " in q for q in rows), (url, rows)
        names = [q for q in counted.sql if _main_table(q) in ("policy_category", "policy_channel")]
        assert not names, (url, names)


def test_api_case_list_names_its_relations_from_the_process(org, world):
    """The API's case list reads its page without joins, like the web queues: channel, category,
    department and handler come from the same per-process cache (queue22)."""
    world(20)
    _token, key = ApiToken.issue(org.supervisor, "perf", scopes=["*"])
    client = Client()

    def get():
        r = client.get("/api/v1/cases?open_only=true&limit=25", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert r.status_code == 200
        return r.json()["items"]

    get()
    counted = Counted()
    with connection.execute_wrapper(counted):
        items = get()
    assert any(i["handler"] and i["handler"]["username"] == org.handler.username for i in items)
    rows = [q for q in counted.sql if _main_table(q) == "cases_case"]
    assert rows and not any(" JOIN " in q for q in rows), rows
