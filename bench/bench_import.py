"""Import throughput: the bulk path (`kesu.intake`) against a naive row-by-row ORM baseline, and the
initial migration (`kesu import --initial-load`: secondary indexes dropped during the load, rebuilt
after, one transaction) beside the normal path on the same file.

    .venv/bin/python bench/bench_import.py            # 100k and 1M rows (SQLite, and PostgreSQL when available)
    BENCH_SCALE=small .venv/bin/python bench/bench_import.py   # 10k rows, quick
    BENCH_SIZES=100000 BENCH_DBS=postgresql BENCH_OUT=/tmp/pg.json ...  # one size / database, elsewhere

Every measurement runs in a fresh subprocess with a fresh database, so peak memory (ru_maxrss of
that process) belongs to the import alone. The naive baseline (`register_case` per row, the path
a row-by-row importer would take) is measured on a sample and its rate extrapolated to the full
size; the result file says so. Writes `bench/results/import.json`.
"""

from __future__ import annotations

import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The order of the measurements (the database floors follow "bulk", whose rows they reload);
# e.g. BENCH_MODES=initial,bulk to get the initial load first and skip the naive baseline.
MODES = [m for m in os.environ.get("BENCH_MODES", "bulk,initial,naive").split(",") if m]
RESULTS = ROOT / "bench" / "results"
PGBIN = Path("/usr/lib/postgresql/15/bin")

HEADER = [
    "工单号",
    "受理时间",
    "渠道",
    "投诉类别",
    "客户姓名",
    "联系电话",
    "投诉内容",
    "状态",
    "结案时间",
    "处理结果",
]
CHANNELS = ["01", "02", "03", "04"]
CATEGORIES = ["A1", "B2", "C3", "D4"]


def generate_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic CRM export: 80 % closed history over two years, 20 % open; ~30 % repeat customers."""
    rnd = random.Random(seed)
    customers = max(10, int(rows * 0.7))
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            day = 1 + (i * 730) // rows
            y, d = (2024, day) if day <= 366 else (2025, day - 366)
            month, dom = min(12, 1 + (d - 1) // 31), 1 + (d - 1) % 28
            received = f"{y}-{month:02d}-{dom:02d} {rnd.randint(8, 20):02d}:{rnd.randint(0, 59):02d}"
            closed = rnd.random() < 0.8
            closed_at = f"{y}-{month:02d}-{min(28, dom + rnd.randint(0, 3)):02d} 23:30" if closed else ""
            cust = rnd.randrange(customers)
            w.writerow(
                [
                    f"WO{i:08d}",
                    received,
                    rnd.choice(CHANNELS),
                    rnd.choice(CATEGORIES),
                    f"客户{cust}",
                    f"13{cust:09d}",
                    f"第{i}号工单：购买的产品出现质量问题，多次联系客服未果，要求退货并赔偿。",
                    "办结" if closed else "在办",
                    closed_at,
                    rnd.choice(["客户满意", "依法维持"]) if closed else "",
                ]
            )


# --- worker (runs in its own process) --------------------------------------------------------------


def _setup(db_url: str, *, migrate: bool = True) -> None:
    os.environ["KESU_DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    os.environ["KESU_LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if not migrate:
        return
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from kesu.policy.services import load_preset

    load_preset("general")
    from kesu.org.models import Department

    for code, name in (("HQ", "总公司"), ("CLAIMS", "理赔部"), ("SERVICE", "客户服务部")):
        Department.objects.get_or_create(code=code, defaults={"name": name})


def _source():
    from kesu.intake.services import save_source

    return save_source(
        "bench-crm",
        name="基准 CRM",
        value_maps={
            "channel": {"01": "phone", "02": "web", "03": "app", "04": "letter"},
            "category": {
                "A1": "product.defect",
                "B2": "billing.wrong",
                "C3": "service.attitude",
                "D4": "delivery.delay",
            },
            "status": {"办结": "closed", "在办": "registered"},
            "outcome": {"客户满意": "accepted", "依法维持": "lawful"},
        },
    )


FLOOR_TABLES = (
    "cases.Customer",
    "cases.Case",
    "cases.CaseEvent",
    "sla.StageDeadline",
    "analytics.CaseCloseTime",
    "analytics.CaseCountKey",
)


def _dropped_indexes():
    """The secondary indexes `kesu import --initial-load` drops and rebuilds, as it plans them."""
    from kesu.intake.initial import KEPT, index_names, schema_editor, secondary_indexes

    editor = schema_editor()
    existing = index_names()
    planned = [
        ix
        for ix in secondary_indexes(editor)
        if (ix.model, ix.columns) not in KEPT and ix.name in existing[ix.model._meta.db_table]
    ]
    return editor, planned


def database_floor(db_url: str, source: str, variant: str) -> dict:
    """The database alone loading the rows the bulk import has just written: no Python per row, no
    file parsing, no lookups, no network. Whatever the importer does, it cannot take less than this
    on the same database and schema.

    PostgreSQL: the rows are copied out to files the server reads itself, the tables are emptied,
    and one server-side `COPY … FROM` per table writes the same rows (and their indexes) again, with
    foreign-key triggers off as the importer has them. SQLite: a fresh database file with the same
    schema (migrated), the bulk run's file attached, one `INSERT … SELECT` per table.

    variant "normal": every index in place (the floor of the normal path). Variant "initial": the
    secondary indexes `--initial-load` drops are dropped before and built after, inside the timing
    (the floor of the initial load).
    """
    from django.apps import apps
    from django.db import connection, transaction

    _setup(db_url, migrate=connection_is_sqlite(db_url))
    tables = [apps.get_model(label)._meta.db_table for label in FLOOR_TABLES]
    rows = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for t in tables:
                cur.execute(f"COPY \"{t}\" TO '{source}/{t}.copy'")
                rows[t] = cur.rowcount
            quoted = ", ".join(f'"{t}"' for t in tables)
            cur.execute(f"TRUNCATE {quoted} CASCADE")
            cur.execute("CHECKPOINT")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        cpu_before = _process_cpu_seconds(pid)
    else:
        with connection.cursor() as cur:
            cur.execute("ATTACH DATABASE %s AS src", [source])
            for t in tables:
                cur.execute(f'DELETE FROM "{t}"')  # empty after migrate; to be sure
                cur.execute(f'SELECT COUNT(*) FROM src."{t}"')
                rows[t] = cur.fetchone()[0]
        pid = os.getpid()
        cpu_before = _process_cpu_seconds(pid)
    dropped = 0
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL session_replication_role = replica")
        else:
            cur.execute("PRAGMA defer_foreign_keys = ON")
        if variant == "initial":
            editor, planned = _dropped_indexes()
            for ix in planned:
                editor.execute(ix.remove)
            dropped = len(planned)
        for t in tables:
            if connection.vendor == "postgresql":
                cur.execute(f"COPY \"{t}\" FROM '{source}/{t}.copy'")
            else:
                cur.execute(f'INSERT INTO "{t}" SELECT * FROM src."{t}"')
        if variant == "initial":
            for ix in planned:
                editor.execute(ix.create)
    elapsed = time.perf_counter() - t0
    if connection.vendor == "postgresql":
        for t in tables:
            Path(source, f"{t}.copy").unlink(missing_ok=True)
    how = (
        "server-side COPY" if connection.vendor == "postgresql" else "INSERT … SELECT from the attached file"
    )
    return {
        "seconds": round(elapsed, 3),
        "database_cpu_seconds": round(_process_cpu_seconds(pid) - cpu_before, 1),
        "rows_per_table": rows,
        "secondary_indexes_dropped_and_rebuilt": dropped,
        "note": f"{how} of the rows the bulk import wrote, no Python per row; "
        + (
            "every index in place: a lower bound for the normal path"
            if variant == "normal"
            else "the secondary indexes --initial-load drops dropped before and rebuilt after, "
            "inside the timing: a lower bound for the initial load"
        ),
    }


def connection_is_sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite")


class CpuClocks:
    """CPU seconds of this process, its children (the importer's forked reader) and, on PostgreSQL,
    the server backend of Django's connection, between start() and stop()."""

    def __init__(self) -> None:
        from django.db import connection

        self.backend = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                self.backend = cur.fetchone()[0]

    def _read(self) -> tuple[float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        server = _process_cpu_seconds(self.backend) if self.backend else 0.0
        return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime, server

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict:
        after = self._read()
        own, kids, server = (round(a - b, 1) for a, b in zip(after, self.before, strict=True))
        out = {"writer": own, "reader": kids, "total": round(own + kids + server, 1)}
        if self.backend:
            out["database_server"] = server
        return out


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker(db_url: str, csv_path: str, mode: str, sample: int) -> dict:
    if mode.startswith("floor"):
        return database_floor(db_url, csv_path, mode.removeprefix("floor-") if "-" in mode else "normal")
    _setup(db_url)
    from kesu.cases.models import Case

    clocks = CpuClocks()

    source = _source()
    if mode == "bulk":
        from kesu.intake.services import DEFAULT_CHUNK_SIZE, run_import

        chunk = int(os.environ.get("BENCH_CHUNK", DEFAULT_CHUNK_SIZE))  # what `kesu import` uses by default
        clocks.start()
        t0 = time.perf_counter()
        batch = run_import(source, csv_path, chunk_size=chunk)
        elapsed = time.perf_counter() - t0
        cpu = clocks.stop()
        assert batch.state == "completed", batch.error
        rows = batch.total_rows
        assert batch.created == rows == Case.objects.count(), (batch.summary(), Case.objects.count())
    elif mode == "initial":
        from kesu.intake.initial import initial_load, row_counts
        from kesu.intake.services import DEFAULT_CHUNK_SIZE

        chunk = int(os.environ.get("BENCH_CHUNK", DEFAULT_CHUNK_SIZE))
        assert not any(row_counts().values())
        clocks.start()
        t0 = time.perf_counter()
        batch = initial_load(source, csv_path, chunk_size=chunk)
        elapsed = time.perf_counter() - t0
        cpu = clocks.stop()
        assert batch.state == "completed", batch.error
        rows = batch.total_rows
        assert batch.created == rows == Case.objects.count(), (batch.summary(), Case.objects.count())
    else:
        # Naive: one register_case per row (parsing through the same mapper, so only the write path differs).
        from kesu.cases.services import register_case
        from kesu.intake.mapping import RowMapper
        from kesu.intake.parsers import locate_header, open_rows
        from kesu.policy.selectors import active_rules

        rows_iter, _fmt, _enc, close = open_rows(Path(csv_path))
        names, _h, first = locate_header(rows_iter, {"external_id": ["工单号"], "description": ["投诉内容"]})
        mapper = RowMapper(
            names=names, mapping={}, value_maps=source.value_maps, defaults={}, rules=active_rules()
        )
        import itertools

        codes = {}
        clocks.start()
        t0 = time.perf_counter()
        rows = 0
        for number, cells in itertools.islice(itertools.chain(first, rows_iter), sample):
            rec, problems = mapper.map(number, cells)
            assert not problems, problems
            ch = codes.get(rec.channel_id)
            if ch is None:
                from kesu.policy.models import Channel

                ch = codes[rec.channel_id] = Channel.objects.get(pk=rec.channel_id).code
            register_case(
                actor=None,
                imported=True,
                data={
                    "channel": ch,
                    "description": rec.description,
                    "received_at": rec.received_at,
                    "customer": rec.customer,
                    "external_source": "bench-crm",
                    "external_id": rec.external_id,
                },
            )
            rows += 1
        elapsed = time.perf_counter() - t0
        cpu = clocks.stop()
        close()
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        # On a shared, busy host the wall time mostly measures the other processes; CPU seconds
        # are the work done (the writer, the forked reader, and on PostgreSQL the server backend).
        "cpu_seconds": cpu,
        "rows_per_second": round(rows / elapsed, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # The file reader/mapper runs in a forked child on long imports (kesu.intake.services._read_ahead).
        "reader_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


# --- PostgreSQL throwaway cluster -----------------------------------------------------------------


class PgCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kesu-bench-pg-"))
        self.port = 55000 + os.getpid() % 1000
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> str:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._run(str(PGBIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PGBIN / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-o", opts, "start"
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def reset(self) -> None:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")

    def __exit__(self, *exc) -> None:
        try:
            self._run(str(PGBIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def measure(db_url: str, csv_path: Path, mode: str, sample: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", db_url, str(csv_path), mode, str(sample)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_calibration() -> float:
    """Seconds for a fixed pure-Python loop (best of 3), taken before each measurement.

    The VM's speed drifts by 20-30 % over minutes (the naive baseline drifts with it); this puts a
    number on the host's speed at the time of each run, so runs can be compared.
    """
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sum(i * i for i in range(5_000_000))
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def _git_commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a run from an exported snapshot of the tree
        return os.environ["BENCH_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return ""


def save_partial(results: dict, entry: dict) -> None:
    """The measurements so far, in case a long run is interrupted (BENCH_PARTIAL=path)."""
    path = os.environ.get("BENCH_PARTIAL")
    if path:
        partial = {**results, "complete": False, "runs": [*results["runs"], entry]}
        Path(path).write_text(json.dumps(partial, ensure_ascii=False, indent=2), encoding="utf-8")


def databases_wanted(only_db: str = "") -> set[str]:
    """The databases to measure: BENCH_DBS (e.g. "postgresql" or "sqlite,postgresql"), else `only_db`
    (run_all.py --db), else both. A cluster is started only when PostgreSQL is among them (a run
    asked for SQLite alone used to start one and leave it idle)."""
    wanted = os.environ.get("BENCH_DBS") or only_db
    return {d.strip() for d in wanted.split(",") if d.strip()} or {"sqlite", "postgresql"}


def main(only_db: str = "") -> None:
    """`only_db` ("sqlite" or "postgresql", from `run_all.py --db`) restricts the run to one database;
    the result then goes to bench/results/import-<db>.json."""
    small = os.environ.get("BENCH_SCALE") == "small"
    sizes = [10_000] if small else [100_000, 1_000_000]
    if os.environ.get("BENCH_SIZES"):  # e.g. BENCH_SIZES=100000 to skip the 1M run on a busy machine
        sizes = [int(x) for x in os.environ["BENCH_SIZES"].split(",")]
    naive_sample = 1_000 if small else 2_000
    wanted_dbs = databases_wanted(only_db)
    with_pg = (
        (PGBIN / "initdb").exists() and os.environ.get("BENCH_PG", "1") != "0" and "postgresql" in wanted_dbs
    )
    work = Path(tempfile.mkdtemp(prefix="kesu-bench-import-"))
    results: dict = {
        "benchmark": "import",
        "scale": "small" if small else "full",
        "sizes": sizes,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git_commit(),
        "targets": {"sqlite_1m_seconds": 120, "postgresql_1m_seconds": 60},
        "runs": [],
    }
    pg = PgCluster() if with_pg else None
    pg_url = pg.__enter__() if pg else None
    try:
        for n in sizes:
            csv_path = work / f"import-{n}.csv"
            generate_csv(csv_path, n)
            targets = [("sqlite", None)] + ([("postgresql", pg_url)] if pg_url else [])
            targets = [t for t in targets if t[0] in wanted_dbs]
            for db, url in targets:
                entry = {
                    "rows": n,
                    "database": db,
                    "file_mb": round(csv_path.stat().st_size / 1e6, 1),
                    "load_average_before": [round(x, 2) for x in os.getloadavg()],
                    "cpu_calibration_seconds": cpu_calibration(),
                    "commit": results["commit"],
                }
                for mode in MODES:
                    if db == "sqlite":
                        db_file = work / f"{mode}.sqlite3"
                        db_file.unlink(missing_ok=True)
                        url = f"sqlite:///{db_file}"
                    else:
                        pg.reset()
                    r = measure(url, csv_path, mode, naive_sample if mode == "naive" else 0)
                    if mode == "initial":
                        r["note"] = "kesu import --initial-load: secondary indexes dropped, rebuilt after"
                    if mode == "naive":
                        r["extrapolated_seconds_for_all_rows"] = round(n / r["rows_per_second"], 1)
                        r["note"] = f"measured on the first {r['rows']} rows, rate extrapolated"
                    entry[mode] = r
                    print(
                        f"{db:10} {n:>9} {mode:5} {r['rows_per_second']:>10} rows/s  {r['seconds']} s  "
                        f"{r['peak_rss_mb']} MB  cpu {r['cpu_seconds']['total']} s  "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                    entry["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
                    save_partial(results, entry)
                    if mode == "bulk":
                        source = str(pg.dir) if db == "postgresql" else str(work / "bulk.sqlite3")
                        for variant, key in (
                            ("normal", "database_floor"),
                            ("initial", "database_floor_initial"),
                        ):
                            floor_url = url
                            if db == "sqlite":
                                floor_file = work / f"floor-{variant}.sqlite3"
                                floor_file.unlink(missing_ok=True)
                                floor_url = f"sqlite:///{floor_file}"
                            entry[key] = measure(floor_url, source, f"floor-{variant}")
                            print(
                                f"{db:10} {n:>9} {key} {entry[key]['seconds']} s  "
                                f"cpu {entry[key]['database_cpu_seconds']} s",
                                flush=True,
                            )
                            save_partial(results, entry)
                            if db == "sqlite":
                                floor_file.unlink(missing_ok=True)
                entry["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
                if "bulk" in entry and "naive" in entry:
                    entry["speedup"] = round(
                        entry["bulk"]["rows_per_second"] / entry["naive"]["rows_per_second"], 1
                    )
                if "bulk" in entry and "initial" in entry:
                    entry["initial_load_vs_bulk"] = round(
                        entry["bulk"]["seconds"] / entry["initial"]["seconds"], 2
                    )
                results["runs"].append(entry)
            csv_path.unlink()
    finally:
        if pg:
            pg.__exit__()
        shutil.rmtree(work, ignore_errors=True)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for mode in ("bulk", "initial"):
        million = {
            r["database"]: r[mode]["seconds"] for r in results["runs"] if r["rows"] == 1_000_000 and mode in r
        }
        if million:
            results.setdefault("targets_met", {})[mode] = {
                db: million[db] <= results["targets"][f"{db}_1m_seconds"] for db in sorted(million)
            }
    RESULTS.mkdir(parents=True, exist_ok=True)
    default_out = RESULTS / (f"import-{only_db}.json" if only_db else "import.json")
    out = Path(os.environ.get("BENCH_OUT", default_out))
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
    elif len(sys.argv) > 2 and sys.argv[1] == "--db":  # bench/run_all.py runs each database apart
        main(sys.argv[2])
    else:
        main()
