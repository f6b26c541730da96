"""The audit log: what is recorded, and tampering is detected by `kesu audit verify`."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kesu.org import roles
from kesu.policy.services import load_preset
from kesu.trust import audit
from kesu.trust.models import AuditEntry
from tests import factories


def _actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


@pytest.fixture
def chain(db):
    for i in range(6):
        audit.record("test.event", None, ("thing", i), {"i": i, "名": "张三"})
    return list(AuditEntry.objects.order_by("seq"))


def test_an_append_is_written_without_the_orm_and_reads_back_as_recorded(db):
    """Every audited read (each API case detail) appends: the head, the entry and the new head are
    statements written once per process (on PostgreSQL the entry and the head in one), where the ORM
    compiled three queries per append. What is stored is what was hashed: the chain verifies."""
    from django.db.models.sql.compiler import SQLCompiler

    audit.record("test.first", None, ("thing", 0), {})  # the head exists (a flushed database makes it)
    compiled = []
    original = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return original(self, *args, **kwargs)

    SQLCompiler.as_sql = counting
    try:
        entry = audit.record("test.event", None, ("thing", 1), {"名": "张三", "n": 1.5, "list": [1, None]})
    finally:
        SQLCompiler.as_sql = original
    assert compiled == []
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.seq, stored.hash, stored.prev_hash, stored.details, stored.created_at) == (
        entry.seq,
        entry.hash,
        entry.prev_hash,
        {"名": "张三", "n": 1.5, "list": [1, None]},
        entry.created_at,
    )
    assert audit.verify().ok and audit.verify().checked == 2


def test_a_clean_chain_verifies(chain):
    result = audit.verify()
    assert result.ok and result.checked == len(chain)
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "完整" in out.getvalue()


def test_an_entry_edited_in_the_database_is_detected(chain):
    victim = chain[2]
    _raw("UPDATE org_auditentry SET details = %s WHERE id = %s", ['{"i": 99}', victim.pk])
    result = audit.verify()
    assert not result.ok
    assert result.broken_seq == victim.seq
    with pytest.raises(CommandError) as exc:
        call_command("audit", "verify")
    assert f"第 {victim.seq} 条" in str(exc.value)


def test_an_edited_actor_name_is_detected(chain):
    _raw("UPDATE org_auditentry SET actor_name = %s WHERE id = %s", ["someone", chain[4].pk])
    assert audit.verify().broken_seq == chain[4].seq


def test_a_deleted_entry_is_detected(chain):
    _raw("DELETE FROM org_auditentry WHERE id = %s", [chain[3].pk])
    result = audit.verify()
    assert not result.ok and result.broken_seq == chain[3].seq


def test_deleting_the_newest_entries_is_detected(chain):
    _raw("DELETE FROM org_auditentry WHERE seq >= %s", [chain[-2].seq])
    result = audit.verify()
    assert not result.ok and result.broken_seq == chain[-2].seq


def test_a_deleted_entry_with_renumbered_successors_is_detected(chain):
    # A careful attacker deletes #3 and renumbers the rest: the prev-hash link breaks.
    _raw("DELETE FROM org_auditentry WHERE id = %s", [chain[2].pk])
    for e in chain[3:]:
        _raw("UPDATE org_auditentry SET seq = %s WHERE id = %s", [e.seq - 1, e.pk])
    result = audit.verify()
    assert not result.ok and result.broken_seq == chain[2].seq


def test_reordered_entries_are_detected(chain):
    a, b = chain[1], chain[2]
    _raw("UPDATE org_auditentry SET seq = %s WHERE id = %s", [1000, a.pk])
    _raw("UPDATE org_auditentry SET seq = %s WHERE id = %s", [a.seq, b.pk])
    _raw("UPDATE org_auditentry SET seq = %s WHERE id = %s", [b.seq, a.pk])
    assert audit.verify().broken_seq == a.seq


def test_the_orm_refuses_to_change_entries(chain):
    entry = chain[0]
    entry.action = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert audit.verify().ok


def test_tail_lists_the_newest_entries(chain):
    out = io.StringIO()
    call_command("audit", "tail", "-n", "2", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 2 and lines[-1].startswith(f"#{chain[-1].seq} ")


def test_role_department_and_policy_changes_are_recorded(org):
    before = AuditEntry.objects.count()
    user = org.handler
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    staff = user.staff
    staff.department = org.claims
    staff.save()
    user.is_staff = True
    user.save()
    load_preset("general")
    new = list(AuditEntry.objects.filter(seq__gt=before).order_by("seq"))
    actions = [e.action for e in new]
    assert actions[:3] == ["perm.roles_changed", "perm.department_changed", "perm.flags_changed"]
    assert "policy.changed" in actions
    assert new[0].target_id == "handler" and roles.SUPERVISOR in new[0].details["now"]
    assert new[1].details["to"] == org.claims.pk
    assert audit.verify().ok


def test_reading_a_case_file_is_recorded_by_api_and_web(org, client):
    case = factories.make_case(org.intake)
    client.force_login(org.supervisor)
    assert client.get(f"/api/v1/cases/{case.number}").status_code == 200
    assert client.get(f"/cases/{case.number}/").status_code == 200
    reads = [e for e in audit.entries_for(case) if e.action == "case.read"]
    assert [e.details["via"] for e in reads] == ["api", "web"]
    assert {e.actor_name for e in reads} == {"supervisor"}
    # a refused read is not a read
    client.force_login(org.finance_handler)
    assert client.get(f"/api/v1/cases/{case.number}").status_code == 404
    assert len([e for e in audit.entries_for(case) if e.action == "case.read"]) == 2


def test_exports_are_recorded(org):
    from kesu.intake.exporters import export_case_file, export_cases

    case = factories.make_case(org.intake)
    export_cases(org.supervisor, None, "csv", io.BytesIO())
    export_case_file(org.supervisor, case.number, "xlsx", io.BytesIO())
    actions = _actions()
    assert "export.list" in actions and "export.case_file" in actions
    assert audit.entries_for(case)[-1].action == "export.case_file"


# --- the append (issue 19: a case read appends one entry; on PostgreSQL in one statement) -------------

ODD_DETAILS = [
    {},
    {"名": "张三", "n": 1, "nested": {"b": [1, 2.5, None, True], "a": '引号"与\\反斜杠'}},
    {"emoji": "🙂", "tab": "a\tb\nc", "empty": "", "zero": 0},
]


def test_each_append_links_exactly_as_entry_hash_computes(db, monkeypatch):
    """The link the append computes (Python on SQLite, SQL on PostgreSQL) is entry_hash over the
    entry as the database gives it back: the text is built around the head's two values."""
    for python in (False, True):
        monkeypatch.setattr(audit, "_APPEND_IN_PYTHON", python)
        for details in ODD_DETAILS:
            made = audit.record("test.odd", None, ("thing", "Ⅸ"), details)
            stored = AuditEntry.objects.get(seq=made.seq)
            assert (made.pk, made.prev_hash, made.hash) == (stored.pk, stored.prev_hash, stored.hash)
            assert stored.hash == audit._hash_of(stored)
            assert stored.details == details
    assert audit.verify().ok


def test_an_append_after_a_flush_creates_the_head(db):
    from kesu.trust.models import AuditHead

    AuditHead.objects.all().delete()
    entry = audit.record("test.event", None, ("thing", 1), {})
    assert entry.seq == AuditEntry.objects.order_by("-seq").first().seq
    assert AuditHead.objects.get().hash == entry.hash


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_never_fork_the_chain(org):
    """Appends from several connections at once (PostgreSQL: each waits at the head's row lock, then
    links to the head as the previous append left it): every sequence number once, the chain verifies."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises every writer at BEGIN IMMEDIATE")
    from tests.cases.test_concurrency import run_threads

    start = AuditEntry.objects.count()
    results = run_threads(
        4, lambda i: [audit.record("test.race", None, ("thing", i), {"k": k}) for k in range(25)]
    )
    assert not any(isinstance(r, Exception) for r in results), results
    assert AuditEntry.objects.count() == start + 100
    seqs = sorted(e.seq for r in results for e in r)
    assert len(set(seqs)) == 100
    assert audit.verify().ok


def test_a_case_read_appends_with_few_statements(org, client):
    """The page's audit row: one statement on PostgreSQL (lock, link, insert, move the head: no
    transaction of its own around it); on SQLite a read, an insert and an update in a transaction (its
    BEGIN IMMEDIATE and COMMIT, here a savepoint), sent without the ORM's compilation."""
    from tests.perf.test_query_counts import Counted

    case = factories.make_case(org.intake)
    counted = Counted()
    with connection.execute_wrapper(counted):
        audit.record("case.read", org.supervisor, case, {"via": "web"})
    work = [q for q in counted.sql if not q.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) == (1 if connection.vendor == "postgresql" else 3), counted.sql
    if connection.vendor == "postgresql":
        assert len(counted.sql) == 1, counted.sql  # no savepoint either: the statement is the transaction
    assert not any('"org_audithead"."id"' in q for q in work), work  # written, not compiled by the ORM
    assert audit.verify().ok
