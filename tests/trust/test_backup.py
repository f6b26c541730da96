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
