"""The daily-count rollup agrees with the live case table through registrations, transitions and imports,
and the statistics engine reads it only when it accounts for every case of the requested days."""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.db.models import F

from kesu.analytics import reports, rollups, selectors
from kesu.analytics.models import DailyCaseCount
from kesu.analytics.periods import Period
from kesu.analytics.selectors import StatFilters
from kesu.cases.models import Case
from kesu.cases.services import perform
from kesu.intake import services as intake
from kesu.org import roles
from kesu.org.services import create_staff
from kesu.policy import selectors as policy_selectors
from kesu.policy.services import activate_document
from tests.analytics.util import SH, at, close, follow_up, register, special_close, to_investigating
from tests.intake.helpers import HEADER, crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db

DIMENSION_COLUMNS = {
    "category": "category_id",
    "branch": "branch_id",
    "channel": "channel_id",
    "region": "region",
    "product": "product",
}


def live_counts() -> Counter:
    """What the rollup must hold, counted case by case from the live table."""
    out: Counter = Counter()
    for case in Case.objects.all():
        day = case.received_at.astimezone(SH).date()
        out[(day, case.kind, "", "")] += 1
        for dimension, column in DIMENSION_COLUMNS.items():
            value = getattr(case, column)
            out[(day, case.kind, dimension, "" if value in (None, "") else str(value))] += 1
    return out


def rolled_counts() -> Counter:
    rows = DailyCaseCount.objects.values_list("day", "kind", "dimension", "key", "n")
    assert all(n >= 0 for *_, n in rows), "a count went negative"
    return Counter({(day, kind, dim, key): n for day, kind, dim, key, n in rows if n})


FILTERS = [
    StatFilters(),
    StatFilters(kind=["complaint"]),
    StatFilters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31)),
    StatFilters(kind=["complaint", "query"], date_from=dt.date(2026, 11, 1), date_to=dt.date(2026, 11, 30)),
]
DIMS = [[], ["kind"], ["category"], ["subcategory"], ["branch"], ["channel"], ["region"], ["product"]]


def assert_engine_agrees() -> None:
    """`count_by` from the rollup gives exactly the rows counted over the live table."""
    for f in FILTERS:
        assert rollups.accounts_for(f.date_from, f.date_to)
        for dims in DIMS:
            for bucket in (None, "day", "week", "month"):
                rolled = selectors.count_by(f, dims, bucket=bucket)
                with rollups.live_tables():
                    live = selectors.count_by(f, dims, bucket=bucket)
                assert rolled == live, (f, dims, bucket)


def test_counts_follow_registrations_and_transitions(org):
    defect = register(org, at(2026, 10, 5, 9), region="上海", product="热水器", branch="EAST")
    billing = register(org, at(2026, 10, 5, 15), category="billing.wrong", channel="web", region="北京")
    # Local days: 23:30 on 31 October and 00:30 on 1 November (both 31 October in UTC).
    late = register(org, at(2026, 10, 31, 23, 30), product="热水器")
    early = register(org, at(2026, 11, 1, 0, 30), category="service.attitude")
    question = register(org, at(2026, 11, 2, 10), kind="consultation", category=None)
    assert rolled_counts() == live_counts()

    # Accepted under another category and kind (a reclassification moves the case's counts).
    perform(
        defect, "accept", org.intake, now=at(2026, 10, 5, 10), kind="complaint", category="service.attitude"
    )
    perform(
        question, "answer_first_contact", org.intake, now=at(2026, 11, 2, 11), kind="query", answer="已答复"
    )
    assert rolled_counts() == live_counts()

    # Regrade, assignment and reassignment to another department, closing, reopening, special closing.
    perform(defect, "regrade", org.supervisor, now=at(2026, 10, 5, 11), level="major", reason="涉及人身安全")
    perform(defect, "assign", org.intake, now=at(2026, 10, 5, 11), department="CLAIMS")
    perform(
        defect, "assign", org.supervisor, now=at(2026, 10, 6, 9), department="QUALITY", handler=org.handler.pk
    )
    close(org, billing, at(2026, 10, 9, 16))
    follow_up(org, billing, at(2026, 10, 10, 10), score=1)  # unsatisfied: reopened
    special_close(org, late, at(2026, 11, 3, 15))
    to_investigating(org, early, at(2026, 11, 2, 9))
    assert Case.objects.get(pk=billing.pk).reopen_count == 1
    assert rolled_counts() == live_counts()
    assert_engine_agrees()

    # The rebuild for existing data gives the same rows as the incremental upkeep.
    before = rolled_counts()
    assert rollups.rebuild_daily_counts() == Case.objects.count()
    assert rolled_counts() == before


def test_counts_follow_imports_and_corrections(org, tmp_path):
    register(org, at(2026, 3, 2, 9))
    source = crm_source()
    source.mapping = {**source.mapping, "region": ["地区"], "product": ["产品"]}
    source.save()
    header = list(HEADER)
    rows = [[*r, "上海", "热水器"] for r in good_rows(3) + good_rows(2, start=10, closed=True)]
    batch = intake.run_import(source, write_csv(tmp_path / "a.csv", rows, header=[*header, "地区", "产品"]))
    assert batch.created == 5
    imported = list(Case.objects.filter(is_imported=True).values_list("pk", flat=True))
    assert rolled_counts() == live_counts()  # kept by the importer itself, per chunk
    # The set-based upkeep for many cases is idempotent: running it again changes nothing.
    rollups.cases_changed(imported)
    assert rolled_counts() == live_counts()

    # A corrected export: region and product of one case change (an `import_update`).
    rows[1][10], rows[1][11] = "江苏", "燃气灶"
    fixed = intake.run_import(source, write_csv(tmp_path / "b.csv", rows, header=[*header, "地区", "产品"]))
    assert fixed.updated == 1
    assert Case.objects.filter(region="江苏", product="燃气灶").count() == 1
    assert rolled_counts() == live_counts()
    assert_engine_agrees()


def test_live_table_counted_when_the_rollup_misses_cases(org):
    for day in (5, 6, 6, 7):
        register(org, at(2026, 10, day, 10))
    october = StatFilters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))
    assert rollups.accounts_for(october.date_from, october.date_to)
    # A case written past the hooks (here: its count lost): the totals differ, the engine counts the cases.
    DailyCaseCount.objects.filter(dimension="", day=dt.date(2026, 10, 6)).update(n=F("n") - 1)
    DailyCaseCount.objects.filter(dimension="channel", day=dt.date(2026, 10, 6)).update(n=F("n") - 1)
    assert not rollups.accounts_for(october.date_from, october.date_to)
    assert selectors.total(october) == 4
    assert sum(r["count"] for r in selectors.count_by(october, ["channel"], bucket="day")) == 4
    # Other months are still read from the rollup.
    assert rollups.accounts_for(dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def test_report_from_rollup_equals_report_from_live_tables(org):
    for n in range(6):
        case = register(org, at(2026, 9 + n % 2, 3 + n, 9 + n), channel="web" if n % 2 else "phone")
        if n % 3 == 0:
            close(org, case, at(2026, 10, 20, 10))
    register(org, at(2025, 10, 8, 10))  # a year earlier: 同比
    october = Period.of("month", dt.date(2026, 10, 1))
    now = at(2026, 11, 2, 9)
    rolled = reports.build_report("monthly", october, now=now)
    with rollups.live_tables():
        live = reports.build_report("monthly", october, now=now)
    assert rolled["headline"]["count"] == 3 and rolled["headline"]["year_ago"] == 1
    assert rolled == live


def test_rebuild_command_fills_the_rollups_for_existing_data(org):
    for day in (5, 6, 7):
        register(org, at(2026, 10, day, 10), region="上海")
    expected = live_counts()
    DailyCaseCount.objects.all().delete()  # e.g. data from before the rollup existed
    assert not rollups.accounts_for(None, None)
    out = io.StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert "3 件案件" in out.getvalue()
    assert rolled_counts() == expected
    assert rollups.accounts_for(None, None)


def test_a_company_wide_recipient_of_reports_is_counted_from_the_live_table(org):
    """The rollup knows a case's kind, not the role a report was routed to: a general manager who also
    holds the recipient role (here 董事长) sees the reports routed to it, so their counts come from the
    live table, and what they see counted is what they may open."""
    boss = create_staff(
        username="boss",
        full_name="boss",
        department=org.hq,
        role_codes=[roles.GENERAL_MANAGER, roles.CHAIRMAN],
        password="kesu-test-pass-1",
    ).user
    register(org, at(2026, 10, 5, 9))
    register(org, at(2026, 10, 6, 9), kind="report", category=None, flags=["senior_management"])
    register(org, at(2026, 10, 7, 9), kind="report", category=None)  # not routed: risk/compliance only
    october = StatFilters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))
    assert selectors.total(october, user=boss) == 2
    assert sum(r["count"] for r in selectors.count_by(october, ["kind"], user=boss)) == 2
    # A general manager without the recipient role still reads the rollup: complaints only.
    assert selectors.total(october, user=org.gm) == 1


def test_a_recipient_named_by_an_earlier_policy_version_is_counted_from_the_live_table(org):
    """A report routed to the general manager under one policy version keeps that role when a later
    version names the chairman again: the general manager still opens it, so their counts must come
    from the live table (the rollup knows kinds, not recipients), not from the rollup without reports."""

    def with_recipient(role: str) -> None:
        document = copy.deepcopy(policy_selectors.active_policy().document)
        document.setdefault("whistleblowing", {})["senior_management_recipient"] = role
        activate_document(document)

    register(org, at(2026, 10, 5, 9))
    with_recipient(roles.GENERAL_MANAGER)
    register(org, at(2026, 10, 6, 9), kind="report", category=None, flags=["senior_management"])
    assert Case.objects.get(kind="report").report_recipient_role == roles.GENERAL_MANAGER
    with_recipient(roles.CHAIRMAN)
    october = StatFilters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))
    assert selectors.total(october, user=org.gm) == 2
    assert sum(r["count"] for r in selectors.count_by(october, ["kind"], user=org.gm)) == 2
