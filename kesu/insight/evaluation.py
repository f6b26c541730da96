"""Reproducible evaluation on any CSV: the triage model against its baselines, the forecaster
against seasonal-naive and moving-average. Used by `kesu insight evaluate|backtest` and the bench."""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kesu.insight import classifier as clf
from kesu.insight import forecast as fc
from kesu.insight import risk


def read_labelled_csv(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {text_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} 缺少列：{'、'.join(sorted(missing))}（现有列：{reader.fieldnames}）")
        for row in reader:
            text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
            if text and label:
                texts.append(text)
                labels.append(label)
    return texts, labels


def _timed_fit_score(
    kind: str, train_docs: Sequence[str], train_labels: Sequence[str], test_docs, test_labels
) -> tuple[dict[str, Any], clf.TriageClassifier]:
    t0 = time.perf_counter()
    model = clf.fit(train_docs, train_labels, kind=kind)
    seconds = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    pred = model.predict(test_docs)
    pred_seconds, cpu_seconds = time.perf_counter() - t1, time.process_time() - c1
    s = clf.score(list(test_labels), pred)
    return {
        "accuracy": s["accuracy"],
        "macro_f1": s["macro_f1"],
        "n_train": len(train_docs),
        "n_test": len(test_docs),
        "seconds_train": round(seconds, 3),
        "texts_per_second": round(len(test_docs) / max(pred_seconds, 1e-9), 1),
        # On a shared machine the wall clock counts other processes' time too: the CPU-time rate does not.
        "texts_per_cpu_second": round(len(test_docs) / max(cpu_seconds, 1e-9), 1),
        "per_class": s["per_class"],
        "labels": s["labels"],
        "confusion": s["confusion"],
    }, model


def evaluate_texts(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[str],
    *,
    keywords: dict[str, list[str]] | None = None,
    target_precision: float = 0.85,
) -> dict[str, Any]:
    """Train on one set, score on the other; the model, the plain baseline, majority class (and keywords)."""
    train_docs = [clf.compose(t) for t in train_texts]
    test_docs = [clf.compose(t) for t in test_texts]
    result, model = _timed_fit_score("model", train_docs, train_labels, test_docs, test_labels)
    result["model"] = "char 1–4 TF-IDF (sublinear) + LinearSVC C=0.3 (class-weighted, sigmoid-calibrated)"
    baseline, _ = _timed_fit_score("baseline", train_docs, train_labels, test_docs, test_labels)
    baseline["model"] = "char 1–3 TF-IDF + LinearSVC"
    for k in ("per_class", "labels", "confusion"):
        baseline.pop(k)
    result["baseline"] = baseline
    result["majority"] = clf.majority_baseline(train_labels, test_labels)
    if keywords:
        pred = [clf.keyword_predict(t, keywords)[0] or result["majority"]["label"] for t in test_texts]
        s = clf.score(list(test_labels), pred)
        result["keywords"] = {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}
    # The "not sure" threshold is chosen on the newest 10% of the training file, then applied to the test.
    n_hold = max(1, len(train_docs) // 10)
    holdout = clf.train_and_validate(
        train_docs[:-n_hold],
        train_labels[:-n_hold],
        train_docs[-n_hold:],
        train_labels[-n_hold:],
        target_precision=target_precision,
    )
    pred, conf, _proba = model.decide(test_docs)
    best = np.asarray(pred)
    keep = conf >= holdout.threshold
    correct = best == np.asarray(test_labels)
    result["not_sure"] = {
        "threshold": round(holdout.threshold, 3),
        "target_precision": target_precision,
        "coverage": round(float(keep.mean()), 4),
        "precision_when_sure": round(float(correct[keep].mean()) if keep.any() else 0.0, 4),
    }
    return result


def read_series_csv(
    path: str | Path, date_column: str = "date", count_column: str = "count"
) -> tuple[list[dt.date], list[float]]:
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            rows.append((dt.date.fromisoformat(row[date_column][:10]), float(row[count_column])))
    rows.sort()
    # Fill missing days with zero counts (a day without complaints is a zero, not a gap).
    days, values = [], []
    for d, v in rows:
        while days and (d - days[-1]).days > 1:
            days.append(days[-1] + dt.timedelta(days=1))
            values.append(0.0)
        days.append(d)
        values.append(v)
    return days, values


CALENDARS = {
    "cn": lambda: fc.china_calendar,
    "us": lambda: fc.holidays_calendar("US"),
    "none": lambda: fc.weekend_calendar,
}


def backtest_series(
    days: Sequence[dt.date],
    values: Sequence[float],
    *,
    horizon: int = 7,
    origins: int = 12,
    step: int = 7,
    calendar: str = "cn",
) -> dict[str, Any]:
    results = fc.backtest(
        values, days, horizon=horizon, origins=origins, step=step, calendar=CALENDARS[calendar]()
    )
    main = results.pop(fc.DEFAULT_MODEL)
    winner = min(
        [(fc.DEFAULT_MODEL, main["mase"])] + [(k, v["mase"]) for k, v in results.items()], key=lambda x: x[1]
    )
    baselines = {k: results.pop(k) for k in ("seasonal_naive", "moving_average_28")}
    return {
        "model": fc.DEFAULT_MODEL,
        **main,
        "winner": winner[0],
        "baselines": baselines,
        "alternatives": results,  # the earlier model (profile_ets), measured in the same run
        "calendar": calendar,
    }


def evaluate_risk(texts: Sequence[str], gold: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Precision and recall of `kesu.insight.risk.detect`, per text: overall (any signal) and per kind."""
    pred = [set(risk.kinds(risk.detect(t))) for t in texts]
    gold_sets = [set(g) for g in gold]
    out: dict[str, Any] = {"n": len(texts), "n_with_signal": sum(1 for g in gold_sets if g)}

    def pr(p: list[bool], g: list[bool]) -> dict[str, Any]:
        tp = sum(a and b for a, b in zip(p, g, strict=True))
        return {
            "precision": round(tp / sum(p), 3) if sum(p) else None,
            "recall": round(tp / sum(g), 3) if sum(g) else None,
            "support": sum(g),
            "predicted": sum(p),
        }

    out["any"] = pr([bool(p) for p in pred], [bool(g) for g in gold_sets])
    out["kinds"] = {
        k: pr([k in p for p in pred], [k in g for g in gold_sets])
        for k in risk.PATTERNS
        if any(k in g for g in gold_sets) or any(k in p for p in pred)
    }
    return out
