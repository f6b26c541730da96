"""Backup and restore: a backup restored into a fresh database holds every case, event and file."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection

from kesu.cases.attachments import attach_file
from kesu.cases.models import Attachment, Case, CaseEvent
from kesu.cases.services import perform
from kesu.trust.backup import BackupError, fingerprint, read_manifest, restore
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


@pytest.fixture
def data(transactional_db, settings, tmp_path):
    # Committed data (transactional_db): pg_dump runs in another process and must see it.
    settings.MEDIA_ROOT = tmp_path / "media"
    o = factories.org()
    cases = [factories.make_case(o.intake) for _ in range(3)]
    perform(cases[0], "accept", o.intake, expected_version=1)
    attach_file(cases[1], o.intake, name="证据.png", content=PNG)
    return o, cases


def _fresh_target(tmp_path):
    """A URL of an empty database of the same kind as the one under test, and a clean-up."""
    if connection.vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}", lambda: None
    name = f"kesu_restore_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"

    def drop():
        with connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def test_backup_and_restore_into_a_fresh_database(data, tmp_path):
    _o, cases = data
    archive = tmp_path / "kesu.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    manifest = read_manifest(archive)
    assert manifest["counts"]["cases_case"] == Case.objects.count() == 3
    assert manifest["counts"]["cases_caseevent"] == CaseEvent.objects.count()
    assert len(manifest["media"]) == 1

    url, drop = _fresh_target(tmp_path)
    restored_media = tmp_path / "restored-media"
    try:
        result = restore(archive, database_url=url, media_dir=restored_media)
        restored = result["restored"]
        live = fingerprint()
        # every case and every event (numbers, statuses, versions, sequence) as in the live database
        assert restored["cases_sha256"] == live["cases_sha256"]
        assert restored["events_sha256"] == live["events_sha256"]
        assert restored["counts"]["cases_case"] == 3
        att = Attachment.objects.get()
        stored = restored_media / "attachments" / att.stored_name
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == att.sha256
    finally:
        drop()


def test_restore_detects_a_damaged_archive(data, tmp_path):
    import json
    import tarfile

    archive = tmp_path / "kesu.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    # Rewrite the manifest so it claims one more case than the dump holds.
    work = tmp_path / "x"
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    manifest = json.loads((work / "manifest.json").read_text())
    manifest["counts"]["cases_case"] += 1
    (work / "manifest.json").write_text(json.dumps(manifest))
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for p in sorted(work.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=p.relative_to(work).as_posix())
    url, drop = _fresh_target(tmp_path)
    try:
        with pytest.raises(BackupError, match="cases_case"):
            restore(bad, database_url=url, media_dir=tmp_path / "m2")
    finally:
        drop()


@pytest.fixture
def file_database(data, tmp_path):
    """SQLite: the test database copied to a file (WAL, busy timeout), as in production. The in-memory
    shared-cache test database answers a concurrent writer with "table is locked" at once instead of
    waiting, which is not what a backup beside a running server meets."""
    if connection.vendor != "sqlite":
        yield
        return
    import sqlite3

    path = tmp_path / "live.sqlite3"
    connection.ensure_connection()
    copy = sqlite3.connect(path)
    connection.connection.backup(copy)
    copy.close()
    memory, name = connection.connection, connection.settings_dict["NAME"]
    connection.connection = None  # kept alive by `memory`: closing it would drop the test database
    connection.settings_dict["NAME"] = str(path)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name
        connection.connection = memory


def test_a_backup_taken_during_a_burst_of_creates_restores(data, file_database, tmp_path):
    """Cases keep being registered from other threads while the backup runs: the manifest describes the
    snapshot in the archive (not the live database a moment later), so the restore verifies."""
    import threading

    from django.db import connections

    o, _cases = data
    stop = threading.Event()
    created: list[int] = []
    errors: list[BaseException] = []

    def create_until_stopped() -> None:
        try:
            while not stop.is_set():
                factories.make_case(o.intake)
                created.append(1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create_until_stopped) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        while len(created) < 5 and not errors:
            threading.Event().wait(0.05)
        archive = tmp_path / "busy.tar.gz"
        call_command("backup", str(archive), stdout=io.StringIO())
        during = len(created)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors
    assert len(created) > during or len(created) >= 5  # the creates really ran beside the backup
    manifest = read_manifest(archive)
    assert manifest["counts"]["cases_case"] >= 3 + 5

    url, drop = _fresh_target(tmp_path)
    try:
        result = restore(archive, database_url=url, media_dir=tmp_path / "busy-media")
        restored = result["restored"]
        for key in ("counts", "cases_sha256", "events_sha256", "audit_head"):
            assert restored[key] == manifest[key], key
        # One register event per case, plus the fixture's accept and attach.
        assert restored["counts"]["cases_caseevent"] == restored["counts"]["cases_case"] + 2
    finally:
        drop()


def test_a_refused_restore_leaves_the_target_untouched(data, tmp_path):
    import json
    import tarfile

    archive = tmp_path / "kesu.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    url, drop = _fresh_target(tmp_path)
    try:
        restore(archive, database_url=url, media_dir=tmp_path / "m1")
        from kesu.trust.backup import _target_settings, fingerprint_of

        before = fingerprint_of(_target_settings(url))
        # A second archive that claims more than it holds: refused, and the first restore stays.
        factories.make_case(data[0].intake)
        call_command("backup", str(tmp_path / "newer.tar.gz"), stdout=io.StringIO())
        work = tmp_path / "x"
        with tarfile.open(tmp_path / "newer.tar.gz") as tar:
            tar.extractall(work, filter="data")
        manifest = json.loads((work / "manifest.json").read_text())
        manifest["events_sha256"] = "0" * 64
        (work / "manifest.json").write_text(json.dumps(manifest))
        bad = tmp_path / "bad.tar.gz"
        with tarfile.open(bad, "w:gz") as tar:
            for p in sorted(work.rglob("*")):
                if p.is_file():
                    tar.add(p, arcname=p.relative_to(work).as_posix())
        with pytest.raises(BackupError, match="events_sha256"):
            restore(bad, database_url=url, media_dir=tmp_path / "m1", force=True)
        assert fingerprint_of(_target_settings(url)) == before
        assert before["counts"]["cases_case"] == 3
    finally:
        drop()
