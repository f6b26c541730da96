"""CPU of the import's reader half (read, map, prepare) per 100k rows, without a database server:
what the forked reader process does for `kesu import` (kesu.intake.services._read_ahead).

    .venv/bin/python bench/profile_import_reader.py 100000          # collector on (as a plain process)
    .venv/bin/python bench/profile_import_reader.py 100000 nogc     # collector off (the reader child)
    .venv/bin/python bench/profile_import_reader.py 100000 freeze   # inherited heap frozen, collector on

Uses bench_import's generated CSV and a throwaway SQLite database for the code tables; the writer's
time conversion is set as on PostgreSQL (datetimes passed through). Prints one RESULT line.
"""

from __future__ import annotations

import gc
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import as B  # noqa: E402  (the dataset and setup of the import benchmark)


def main(rows: int, collector: str) -> None:
    csv_path = Path(tempfile.gettempdir()) / f"kesu-profile-reader-{rows}.csv"
    if not csv_path.exists():
        B.generate_csv(csv_path, rows)
    B._setup(f"sqlite:///{Path(tempfile.mkdtemp()) / 'codes.sqlite3'}")
    from kesu.intake import services
    from kesu.intake.bulk import writer as bulk_writer
    from kesu.intake.mapping import FIELDS, RowMapper
    from kesu.intake.options import SourceOptions, identity
    from kesu.intake.parsers import locate_header_rows, open_rows
    from kesu.intake.updates import SystemWriter
    from kesu.policy.selectors import active_policy, rules_for

    bulk_writer._dt_converter = lambda: lambda v: v  # as on PostgreSQL
    source = B._source()
    lines, _fmt, _enc, close = open_rows(csv_path)
    wanted = {name: aliases for name, (_label, aliases) in FIELDS.items()}
    names, _before, _header, first_rows = locate_header_rows(lines, wanted)
    policy = active_policy()
    rules = rules_for(policy)
    mapper = RowMapper(
        names=names,
        mapping=source.mapping,
        value_maps=source.value_maps,
        defaults=source.defaults,
        rules=rules,
        options=SourceOptions.of(source),
    )
    writer = SystemWriter(
        columns=frozenset(mapper.columns),
        source=identity(source),
        batch_id=1,
        rules=rules,
        policy_id=policy.pk,
    )
    if collector == "nogc":
        gc.disable()
    elif collector == "freeze":
        gc.freeze()
    spent = {"read": 0.0, "map": 0.0, "prepare": 0.0}
    data = itertools.chain(first_rows, lines)
    while True:
        c0 = time.process_time()
        block = list(itertools.islice(data, services.DEFAULT_CHUNK_SIZE))
        c1 = time.process_time()
        if not block:
            break
        chunk = services._map_chunk(0, block, mapper, None)
        c2 = time.process_time()
        writer.prepare(chunk.records)
        c3 = time.process_time()
        spent["read"] += c1 - c0
        spent["map"] += c2 - c1
        spent["prepare"] += c3 - c2
    close()
    print("RESULT", collector, {k: round(v, 2) for k, v in spent.items()}, round(sum(spent.values()), 2))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "on")
