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
