"""Triage prediction speed on one core: the model and the plain baseline, wall clock and CPU time.

Fits both on ../shared/data/heimao/train.csv and predicts dev.csv four times over (2,044 texts, composed
as at intake) three times each, with the BLAS/OpenMP pools at one thread. Pin it to one core with
`taskset -c 1 .venv/bin/python bench/triage_speed.py`. The machine's load average is printed: on a shared
machine the wall-clock rate depends on it, the CPU-time rate much less.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("KESU_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))


def main() -> None:
    if not (DATA / "heimao" / "train.csv").exists():
        print(f"triage_speed: {DATA / 'heimao'} not found; skipping")
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    import django

    django.setup()
    from kesu.insight import classifier as clf
    from kesu.insight import evaluation

    train_texts, train_labels = evaluation.read_labelled_csv(DATA / "heimao" / "train.csv")
    test_texts = evaluation.read_labelled_csv(DATA / "heimao" / "dev.csv")[0] * 4
    docs = [clf.compose(t) for t in train_texts]
    print(f"load average {os.getloadavg()[0]:.2f}, {len(test_texts)} texts")
    for kind in ("model", "baseline"):
        model = clf.fit(docs, train_labels, kind=kind)
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            model.predict([clf.compose(t) for t in test_texts])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"{kind}: {len(test_texts) / wall:,.0f} texts/s wall, {len(test_texts) / cpu:,.0f} per CPU-second"
            )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
