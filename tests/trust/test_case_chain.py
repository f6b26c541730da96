"""Case timelines are hash-chained: `kesu audit verify` fails on a deleted, edited or reordered case
event and names the case; every writer of events (registration, `perform`, the bulk importer's new
and updated cases, the data migration) leaves a chain that verifies; the daily anchor mails the heads."""

from __future__ import annotations

import importlib
import io
import json
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kesu.cases import chain
from kesu.cases.models import Case, CaseEvent
from kesu.intake import services as intake
from kesu.trust import anchor, tasks
from tests import factories
from tests.cases.helpers import Walk
from tests.intake.helpers import crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _verify() -> str:
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    return out.getvalue()


def _refused() -> str:
    with pytest.raises(CommandError) as exc:
        call_command("audit", "verify", stdout=io.StringIO())
    assert exc.value.returncode == 1
    return str(exc.value)


@pytest.fixture
def cases(org):
    """Two cases with a few events each: the one tampered with and a bystander."""
    made = []
    for _ in range(2):
        case = factories.make_case(org.intake)
        walk = Walk(case)
        walk("accept", org.intake)
        walk("assign", org.intake, handler=org.handler.pk)
        walk("add_note", org.handler, text="已致电客户说明进度")
        made.append(case)
    assert "案件时间线完整" in _verify()
    return made


def test_every_event_is_chained_to_the_previous_one_of_its_case(cases):
    events = list(CaseEvent.objects.filter(case=cases[0]).order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == chain.GENESIS
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.prev_hash == earlier.hash and len(later.hash) == 64
    assert all(chain.hash_of(e) == e.hash for e in events)


def test_a_deleted_event_is_detected_and_the_case_named(cases):
    victim, bystander = cases
    _raw(f'DELETE FROM "{CaseEvent._meta.db_table}" WHERE case_id = %s AND seq = 2', [victim.pk])
    message = _refused()
    assert victim.number in message and bystander.number not in message
    assert "第 2 条事件" in message


def test_a_deleted_last_event_is_detected(cases):
    victim = cases[1]
    _raw(f'DELETE FROM "{CaseEvent._meta.db_table}" WHERE case_id = %s AND seq = 4', [victim.pk])
    assert victim.number in _refused()


def test_an_edited_event_is_detected(cases):
    victim, bystander = cases
    _raw(
        f'UPDATE "{CaseEvent._meta.db_table}" SET payload = %s WHERE case_id = %s AND seq = 3',
        [json.dumps({"handler": "someone-else"}, ensure_ascii=False), victim.pk],
    )
    message = _refused()
    assert victim.number in message and bystander.number not in message
    assert "事件内容被修改" in message


def test_reordered_events_are_detected(cases):
    victim = cases[0]
    table = CaseEvent._meta.db_table
    # Swap two events (seq 3 and 4) through a free number: the unique (case, seq) stays satisfied.
    _raw(f'UPDATE "{table}" SET seq = 99 WHERE case_id = %s AND seq = 3', [victim.pk])
    _raw(f'UPDATE "{table}" SET seq = 3 WHERE case_id = %s AND seq = 4', [victim.pk])
    _raw(f'UPDATE "{table}" SET seq = 4 WHERE case_id = %s AND seq = 99', [victim.pk])
    message = _refused()
    assert victim.number in message and "第 3 条事件" in message


def test_imported_cases_and_their_updates_are_chained(org, tmp_path):
    source = crm_source()
    rows = good_rows(6) + good_rows(4, start=7, closed=True)
    assert intake.run_import(source, write_csv(tmp_path / "a.csv", rows)).created == 10
    rows[2][6] = "热水器漏水，已造成地板损坏。"
    assert intake.run_import(source, write_csv(tmp_path / "b.csv", rows)).updated == 1
    updated = Case.objects.get(external_id="WO000003")
    first, second = updated.events.order_by("seq")
    assert second.action == "import_update" and second.prev_hash == first.hash
    closed = Case.objects.get(external_id="WO000008")
    assert [e.seq for e in closed.events.all()] == [1, 2]
    result = chain.verify_cases()
    assert result.ok, str(result)
    assert (result.cases, result.events) == (10, 10 + 4 + 1)


def test_the_migration_chains_existing_events(cases):
    before = dict(CaseEvent.objects.values_list("pk", "hash"))
    CaseEvent.objects.update(prev_hash="", hash="")
    assert not chain.verify_cases().ok
    migration = importlib.import_module("kesu.cases.migrations.0006_chain_existing_events")
    migration.PAGE = 1  # several pages, so the keyset walk is exercised
    migration.chain_events(django_apps, SimpleNamespace(connection=connection))
    assert dict(CaseEvent.objects.values_list("pk", "hash")) == before
    assert chain.verify_cases().ok


def test_the_daily_anchor_logs_and_mails_both_heads(cases, org, settings, caplog):
    settings.ADMINS = []
    org.admin.email = "admin@example.com"
    org.admin.save()
    caplog.set_level("INFO", logger="kesu.trust.anchor")
    sent = tasks.anchor_chain_heads.call()
    assert sent["case_events"]["cases"] == 2 and sent["case_events"]["events"] == 8
    assert mail.outbox[-1].to == ["admin@example.com"]
    assert sent["case_events"]["heads_sha256"] in mail.outbox[-1].body
    assert sent["audit_head"]["hash"] in caplog.text
    assert any(j["enqueue"] == "kesu.trust.tasks.enqueue_anchor" for j in settings.KESU_PERIODIC_JOBS)
    # Any change to a case's last event moves the digest the administrators hold.
    _raw(
        f'UPDATE "{CaseEvent._meta.db_table}" SET hash = %s WHERE case_id = %s AND seq = 4',
        ["f" * 64, cases[0].pk],
    )
    assert anchor.current()["case_events"]["heads_sha256"] != sent["case_events"]["heads_sha256"]
