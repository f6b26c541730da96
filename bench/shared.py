"""What the benchmark scripts and the data set builder share: where things are, the scale, the
PostgreSQL cluster to use, and the event path that leads to each status.

Imported by bench/common.py (the benchmarks' helpers) and bench/dataset.py (the shared 1M-case data
set); it imports neither, so the two do not depend on each other in a circle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
SCRATCH_DIR = ROOT / "var" / "bench"
SCALE = os.environ.get("BENCH_SCALE", "full").strip().lower() or "full"

# The scripts import `kesu` from this checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pg_base_url() -> str | None:
    for name in ("BENCH_PG_URL", "KESU_PG_URL", "KESU_DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgres://", "postgresql://")):
            return url
    return None


# --- CPU of other processes (Linux /proc) ------------------------------------------------------------
# On this shared 2-core machine wall time moves with the other sessions' load; CPU seconds per process do
# not, so the benchmarks record those of the server processes and the database beside their wall times.

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, …, utime (11), stime, cutime, cstime]."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = proc_stat(entry.name)
            if fields is not None:
                out.setdefault(fields[1], []).append(entry.name)
    return out


def process_tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds of these processes and all their descendants, including the children they already
    reaped (cutime/cstime): e.g. a gunicorn master and its workers, a postmaster and its backends."""
    children = _children()
    ticks = 0
    for root in pids:
        fields = proc_stat(root)
        if fields is None:
            continue
        ticks += sum(int(x) for x in fields[11:15])
        stack = list(children.get(str(root), []))
        while stack:
            pid = stack.pop()
            f = proc_stat(pid)
            if f is not None:
                ticks += int(f[11]) + int(f[12])
            stack.extend(children.get(pid, []))
    return ticks / _CLK_TCK


def postgres_server_cpu_s(backend_pid: int) -> float | None:
    """CPU seconds of the PostgreSQL server that runs this backend: its postmaster and every child."""
    fields = proc_stat(backend_pid)
    return None if fields is None else process_tree_cpu_s([int(fields[1])])


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (all cores; /proc/stat minus idle and iowait)."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(values[:8]) - values[3] - values[4]) / _CLK_TCK


# The actions that lead to each status, in order (after the `register` event).
EVENT_PATHS: dict[str, list[tuple[str, str]]] = {
    "registered": [],
    "accepted": [("accept", "accepted")],
    "assigned": [("accept", "accepted"), ("assign", "assigned")],
    "investigating": [
        ("accept", "accepted"),
        ("assign", "assigned"),
        ("start_investigation", "investigating"),
    ],
    "pending_approval": [
        ("accept", "accepted"),
        ("assign", "assigned"),
        ("start_investigation", "investigating"),
        ("propose_remedy", "pending_approval"),
    ],
    "responding": [
        ("accept", "accepted"),
        ("assign", "assigned"),
        ("start_investigation", "investigating"),
        ("propose_remedy", "responding"),
    ],
    "suspended": [
        ("accept", "accepted"),
        ("assign", "assigned"),
        ("start_investigation", "investigating"),
        ("suspend", "suspended"),
    ],
    "closed": [
        ("accept", "accepted"),
        ("assign", "assigned"),
        ("start_investigation", "investigating"),
        ("propose_remedy", "responding"),
        ("reply", "responding"),
        ("close", "closed"),
    ],
    "archived": [
        ("accept", "accepted"),
        ("assign", "assigned"),
        ("start_investigation", "investigating"),
        ("propose_remedy", "responding"),
        ("reply", "responding"),
        ("close", "closed"),
        ("follow_up", "closed"),
        ("archive", "archived"),
    ],
    "invalid": [("mark_invalid", "invalid")],
    "answered": [("answer_first_contact", "answered")],
}
