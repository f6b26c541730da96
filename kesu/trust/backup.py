"""Backup and restore: the database and the attachment files in one `.tar.gz`.

`backup(out)` writes
- `database.sqlite3` (SQLite: the online backup API, consistent while the server runs), or
  `database.pgdump` (PostgreSQL: `pg_dump --format=custom` when `pg_dump` is installed), or
  `database.json` (any database: `dumpdata`, the fallback),
- `media/...` (attachments, reports and other stored files, read through Django's storage API, so a
  backup covers an S3-compatible bucket as well as the media directory),
- `manifest.json`: counts of the key tables, checksums of every case and every event, the audit chain
  head and the sha256 of every file.

The manifest describes exactly the data in the archive, also while cases are being created: it is
computed from the snapshot itself (the copied SQLite file; on PostgreSQL inside the REPEATABLE READ
transaction whose exported snapshot pg_dump reads; for the JSON dump inside the transaction that
dumps), and the checksum of each file from the copy that goes into the archive.

`restore(src, database_url=None)` restores beside the target (a staging SQLite file, or a staging
PostgreSQL database), recomputes counts and checksums there and refuses (raises) on any difference,
leaving the target untouched; only a verified copy replaces the target (SQLite: copied in with the
backup API, one transaction; PostgreSQL: the databases are swapped by renaming). The files are
checked in the extracted archive before any is written back through the storage (the configured
default storage, or a media directory given to `restore`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import connections, transaction
from django.utils import timezone

FORMAT_VERSION = 1
RESTORE_ALIAS = "kesu_restore"
COUNTED_TABLES = (
    "cases_case",
    "cases_caseevent",
    "cases_customer",
    "cases_attachment",
    "org_auditentry",
    "auth_user",
)


class BackupError(Exception):
    pass


# --- fingerprints ---------------------------------------------------------------------------------------


def _fingerprint(cur, existing: set[str]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for table in COUNTED_TABLES:
        if table in existing:
            cur.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - fixed names
            counts[table] = int(cur.fetchone()[0])
    cases = hashlib.sha256()
    cur.execute("SELECT number, status, version, kind, level FROM cases_case ORDER BY number")
    for row in cur.fetchall():
        cases.update(json.dumps([str(v) for v in row], ensure_ascii=False).encode())
    events = hashlib.sha256()
    cur.execute(
        "SELECT c.number, e.seq, e.action, e.from_status, e.to_status FROM cases_caseevent e "
        "JOIN cases_case c ON c.id = e.case_id ORDER BY c.number, e.seq"
    )
    for row in cur.fetchall():
        events.update(json.dumps([str(v) for v in row], ensure_ascii=False).encode())
    head = None
    if "org_audithead" in existing:
        cur.execute("SELECT seq, hash FROM org_audithead WHERE id = 1")
        r = cur.fetchone()
        head = {"seq": int(r[0]), "hash": r[1]} if r else None
    return {
        "counts": counts,
        "cases_sha256": cases.hexdigest(),
        "events_sha256": events.hexdigest(),
        "audit_head": head,
    }


def fingerprint() -> dict[str, Any]:
    """Counts of the key tables and checksums of every case and event, in the configured database."""
    conn = connections["default"]
    with conn.cursor() as cur:
        return _fingerprint(cur, set(conn.introspection.table_names(cur)))


def _pg_connect(db: dict[str, Any], dbname: str | None = None, **kwargs: Any):
    import psycopg

    return psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname=dbname or db["NAME"],
        **kwargs,
    )


def _pg_tables(cur) -> set[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r[0] for r in cur.fetchall()}


def fingerprint_of(db: dict[str, Any]) -> dict[str, Any]:
    """The same for another database (Django settings dict), over a plain DB-API connection."""
    if db["ENGINE"].endswith("sqlite3"):
        raw = sqlite3.connect(db["NAME"])
        try:
            cur = raw.cursor()
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return _fingerprint(cur, {r[0] for r in cur.fetchall()})
        finally:
            raw.close()
    with _pg_connect(db) as raw:
        with raw.cursor() as cur:
            return _fingerprint(cur, _pg_tables(cur))


def _file_sha(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# --- backup ---------------------------------------------------------------------------------------------


def _pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


def _pg_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args = ["-h", str(db.get("HOST") or "127.0.0.1"), "-p", str(db.get("PORT") or 5432)]
    args += ["-U", str(db.get("USER") or "postgres")]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _dump_database(workdir: Path, *, prefer: str = "auto") -> tuple[str, dict[str, Any]]:
    """Write the database into `workdir`; returns its format and the fingerprint of what was written
    (read from the same snapshot, never from the live database a moment later)."""
    conn = connections["default"]
    vendor = conn.vendor
    if vendor == "sqlite" and prefer in ("auto", "native"):
        conn.ensure_connection()
        copy = workdir / "database.sqlite3"
        target = sqlite3.connect(copy)
        try:
            # One step (pages=-1): the copy is a single consistent state of the source.
            conn.connection.backup(target)
        finally:
            target.close()
        return "sqlite", fingerprint_of({"ENGINE": "django.db.backends.sqlite3", "NAME": str(copy)})
    if vendor == "postgresql" and prefer in ("auto", "native") and _pg_tool("pg_dump"):
        db = conn.settings_dict
        args, env = _pg_env(db)
        # pg_dump reads the snapshot this transaction exports; the manifest is read in the same one.
        with _pg_connect(db) as raw:
            raw.isolation_level = _psycopg_isolation("REPEATABLE_READ")
            raw.read_only = True
            with raw.cursor() as cur:
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = cur.fetchone()[0]
                subprocess.run(
                    [
                        _pg_tool("pg_dump"),
                        *args,
                        "--format=custom",
                        "--no-owner",
                        "--no-acl",
                        f"--snapshot={snapshot}",
                        "-f",
                        str(workdir / "database.pgdump"),
                        db["NAME"],
                    ],
                    check=True,
                    env=env,
                    capture_output=True,
                )
                fp = _fingerprint(cur, _pg_tables(cur))
            raw.rollback()
        return "pgdump", fp
    from django.core.management import call_command

    # One transaction for the dump and the manifest (REPEATABLE READ on PostgreSQL, set before the
    # first query; SQLite's IMMEDIATE transaction holds the write lock meanwhile).
    with transaction.atomic():
        if vendor == "postgresql":
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with open(workdir / "database.json", "w", encoding="utf-8") as fh:
            call_command(
                "dumpdata",
                "--natural-foreign",
                "--exclude=contenttypes",
                "--exclude=auth.permission",
                "--exclude=sessions",
                stdout=fh,
            )
        fp = fingerprint()
    return "json", fp


def _psycopg_isolation(name: str):
    import psycopg

    return getattr(psycopg.IsolationLevel, name)


def _target_storage(media_dir: str | Path | None) -> Storage:
    """Where the files are: the configured default storage (a directory or a bucket), or, for a restore
    into another place, that directory."""
    if media_dir is None:
        return storages["default"]
    return FileSystemStorage(
        location=media_dir, file_permissions_mode=0o600, directory_permissions_mode=0o750
    )


def _stored_names(storage: Storage, prefix: str = "") -> list[str]:
    """Every file name in the storage, sorted, through `listdir` (a bucket has no directory to walk)."""
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:  # a media directory that was never created: nothing stored yet
        return []
    names = [f"{prefix}{f}" for f in files]
    for d in dirs:
        names.extend(_stored_names(storage, f"{prefix}{d}/"))
    return sorted(names)


def _copy_media(storage: Storage, work: Path) -> dict[str, str]:
    """Copy the stored files into the archive's work directory; each checksum is of the copy that is
    archived (a file replaced meanwhile cannot make the manifest disagree with the archive)."""
    media: dict[str, str] = {}
    for rel in _stored_names(storage):
        copy = work / "media" / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        with storage.open(rel, "rb") as src, open(copy, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        media[rel] = _file_sha(copy)
    return media


def _stored_sha(storage: Storage, name: str) -> str:
    with storage.open(name, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _restore_media(storage: Storage, media_src: Path, digests: dict[str, str]) -> int:
    """Write the archive's files back under their own names. A file already there with the same content
    is left alone; one with other content is replaced (the storages never overwrite on save, so it is
    deleted first, and a save that still picks another name is an error, not a silent copy). `digests`:
    the manifest's checksums, already verified against these files (`_media_problems`)."""
    restored = 0
    if not media_src.is_dir():
        return restored
    for path in sorted(p for p in media_src.rglob("*") if p.is_file()):
        rel = path.relative_to(media_src).as_posix()
        if storage.exists(rel):
            if _stored_sha(storage, rel) == (digests.get(rel) or _file_sha(path)):
                restored += 1
                continue
            storage.delete(rel)
        with open(path, "rb") as fh:
            saved = storage.save(rel, File(fh, name=rel))
        if saved != rel:
            raise BackupError(f"恢复文件时存储改用了另一个名称：{rel} → {saved}")
        restored += 1
    return restored


def backup(out: str | Path, *, prefer: str = "auto", actor=None) -> dict[str, Any]:
    """Write a backup archive to `out`; returns its manifest."""
    out = Path(out)
    storage = _target_storage(None)
    with tempfile.TemporaryDirectory(prefix="kesu-backup-") as tmp:
        work = Path(tmp)
        fmt, fp = _dump_database(work, prefer=prefer)
        # After the database: every file a backed-up row names was stored before its row committed.
        media = _copy_media(storage, work)
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": timezone.now().isoformat(),
            "database_format": fmt,
            "vendor": connections["default"].vendor,
            **fp,
            "media": media,
        }
        (work / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(work / "manifest.json", arcname="manifest.json")
            for name in ("database.sqlite3", "database.pgdump", "database.json"):
                if (work / name).exists():
                    tar.add(work / name, arcname=name)
            for rel in media:
                tar.add(work / "media" / rel, arcname=f"media/{rel}")
        partial.replace(out)
    from kesu.trust import audit

    audit.record("backup.created", actor, ("backup", out.name), {"format": fmt, "counts": manifest["counts"]})
    return manifest


# --- restore --------------------------------------------------------------------------------------------


def _target_settings(database_url: str | None) -> dict[str, Any]:
    if not database_url:
        return dict(connections["default"].settings_dict)
    import dj_database_url

    db = dj_database_url.parse(database_url)
    base = dict(connections["default"].settings_dict)
    base.update(db)
    base.setdefault("OPTIONS", {})
    if db["ENGINE"].endswith("sqlite3"):
        base["OPTIONS"] = {}
    elif "OPTIONS" in db:
        base["OPTIONS"] = db["OPTIONS"]
    else:
        base["OPTIONS"] = {}
    return base


def _open_alias(db: dict[str, Any]) -> str:
    connections.databases[RESTORE_ALIAS] = db
    try:
        connections[RESTORE_ALIAS].close()
    except Exception:  # noqa: BLE001
        pass
    del connections[RESTORE_ALIAS]
    return RESTORE_ALIAS


def _close_alias() -> None:
    if RESTORE_ALIAS in connections.databases:
        try:
            connections[RESTORE_ALIAS].close()
        finally:
            del connections[RESTORE_ALIAS]
            connections.databases.pop(RESTORE_ALIAS, None)


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        name = Path(m.name)
        if name.is_absolute() or ".." in name.parts or not (m.isfile() or m.isdir()):
            raise BackupError(f"备份文件中有不安全的路径：{m.name}")
        members.append(m)
    return members


def _compare(manifest: dict[str, Any], got: dict[str, Any]) -> list[str]:
    return [
        f"{key}: 备份 {manifest.get(key)} ≠ 恢复后 {got.get(key)}"
        for key in ("counts", "cases_sha256", "events_sha256", "audit_head")
        if got.get(key) != manifest.get(key)
    ]


def _media_problems(manifest: dict[str, Any], media_src: Path) -> list[str]:
    problems = []
    for rel, digest in manifest.get("media", {}).items():
        path = media_src / rel
        if not path.is_file() or _file_sha(path) != digest:
            problems.append(f"文件 {rel} 缺失或校验和不符")
    return problems


def _load_json(db: dict[str, Any], dump: Path) -> None:
    from django.core.management import call_command

    alias = _open_alias(db)
    try:
        call_command("migrate", database=alias, verbosity=0, interactive=False)
        call_command("loaddata", str(dump), database=alias, verbosity=0)
    finally:
        _close_alias()


def _close_connections_to(name: str) -> None:
    for conn in connections.all():
        if conn.settings_dict.get("NAME") == name:
            conn.close()


def _restore_sqlite(target: dict[str, Any], work: Path, fmt: str, manifest: dict[str, Any], force: bool):
    dest = Path(target["NAME"])
    if dest.exists() and dest.stat().st_size and not force:
        raise BackupError(f"目标数据库已存在：{dest}（确认覆盖请加 --force）")
    staged = dest.with_name(dest.name + ".restoring")
    for leftover in (staged, Path(f"{staged}-wal"), Path(f"{staged}-shm"), Path(f"{staged}-journal")):
        leftover.unlink(missing_ok=True)
    try:
        if fmt == "sqlite":
            shutil.copyfile(work / "database.sqlite3", staged)
        else:
            _load_json({**target, "NAME": str(staged)}, work / "database.json")
        got = fingerprint_of({**target, "NAME": str(staged)})
        problems = _compare(manifest, got)
        if problems:
            raise BackupError("恢复校验失败（目标数据库未改动）：\n" + "\n".join(problems[:20]))
        # The swap: the verified copy goes into the target in one write transaction of the backup API
        # (safe for the target's WAL and for readers, unlike replacing the file under them).
        _close_connections_to(str(dest))
        source, dst = sqlite3.connect(staged), sqlite3.connect(dest)
        try:
            source.backup(dst)
        finally:
            source.close()
            dst.close()
        return got
    finally:
        staged.unlink(missing_ok=True)


def _restore_postgresql(target: dict[str, Any], work: Path, fmt: str, manifest: dict[str, Any]):
    name = target["NAME"]
    tag = f"{os.getpid()}_{int(timezone.now().timestamp())}"
    staged, old = f"{name[:40]}__restoring_{tag}", f"{name[:40]}__replaced_{tag}"
    with _pg_connect(target, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{staged}" TEMPLATE template0')
    swapped = False
    try:
        if fmt == "pgdump":
            tool = _pg_tool("pg_restore")
            if tool is None:
                raise BackupError("找不到 pg_restore")
            args, env = _pg_env(target)
            r = subprocess.run(
                [tool, *args, "--no-owner", "--no-acl", "-d", staged, str(work / "database.pgdump")],
                env=env,
                capture_output=True,
                text=True,
            )
            if r.returncode not in (0, 1):  # 1: warnings
                raise BackupError(f"pg_restore 失败：{r.stderr[-2000:]}")
        else:
            _load_json({**target, "NAME": staged}, work / "database.json")
        got = fingerprint_of({**target, "NAME": staged})
        problems = _compare(manifest, got)
        if problems:
            raise BackupError("恢复校验失败（目标数据库未改动）：\n" + "\n".join(problems[:20]))
        # The swap: renames need the target without sessions (the application stopped, as for any restore).
        _close_connections_to(name)
        with _pg_connect(target, dbname="postgres", autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{old}"')
            admin.execute(f'ALTER DATABASE "{staged}" RENAME TO "{name}"')
            swapped = True
            if exists:
                admin.execute(f'DROP DATABASE "{old}"')
        return got
    finally:
        if not swapped:
            with _pg_connect(target, dbname="postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{staged}" WITH (FORCE)')


def restore(
    src: str | Path,
    *,
    database_url: str | None = None,
    media_dir: str | Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Restore an archive into the target database and media directory, verified before it replaces
    anything: on any difference from the manifest the target and the media directory stay as they were."""
    src = Path(src)
    target = _target_settings(database_url)
    storage = _target_storage(media_dir)
    with tempfile.TemporaryDirectory(prefix="kesu-restore-") as tmp:
        work = Path(tmp)
        with tarfile.open(src, "r:gz") as tar:
            members = _safe_members(tar)
            tar.extractall(work, members=members, filter="data")
        manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
        fmt = manifest["database_format"]
        is_sqlite = target["ENGINE"].endswith("sqlite3")
        if fmt == "sqlite" and not is_sqlite:
            raise BackupError("SQLite 备份只能恢复到 SQLite 数据库；请用 --prefer json 备份后迁移")
        if fmt == "pgdump" and is_sqlite:
            raise BackupError("pg_dump 备份只能恢复到 PostgreSQL 数据库")
        media_src = work / "media"
        problems = _media_problems(manifest, media_src)
        if problems:
            raise BackupError("恢复校验失败（未做任何改动）：\n" + "\n".join(problems[:20]))
        if is_sqlite:
            got = _restore_sqlite(target, work, fmt, manifest, force)
        else:
            got = _restore_postgresql(target, work, fmt, manifest)
        restored_files = _restore_media(storage, media_src, manifest.get("media", {}))
    return {"manifest": manifest, "restored": got, "files": restored_files}


def read_manifest(src: str | Path) -> dict[str, Any]:
    with tarfile.open(src, "r:gz") as tar:
        fh = tar.extractfile("manifest.json")
        if fh is None:
            raise BackupError("备份文件缺少 manifest.json")
        return json.load(io.TextIOWrapper(fh, encoding="utf-8"))
