"""Whether two complaint texts describe the same matter: what grading needs of text similarity.

Grading counts a customer's earlier complaints on the same matter (000 第2篇: second complaint urgent,
third major). Identifiers (subject number, category) find most of them; `same_matter_by_text` finds
those that describe the same matter in other words. It lives here, beside grading, so that the
lifecycle needs nothing of the layers above it; `kesu.insight` builds its related-case search and its
triage model on the same `normalize_text` and `case_text`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from kesu.cases.customers import same_person_q
from kesu.cases.models import Case, Kind

TEXT_THRESHOLD = 0.55  # cosine similarity above which two complaint texts are "the same matter"

# How many of a customer's most recent complaints are compared (grading reads the same bound).
MAX_EARLIER = 50

_DIGITS = re.compile(r"\d+")
_MASK = re.compile(r"[*＊xX]{3,}")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace, map numbers and masked digits to placeholders."""
    text = _SPACE.sub(" ", (text or "").strip().lower())
    text = _MASK.sub("＊", text)
    return _DIGITS.sub("0", text)


def case_text(case: Case) -> str:
    return " ".join(p for p in (case.subject, case.description, case.demands) if p)


def text_similarities(query: str, docs: Sequence[str]) -> np.ndarray:
    """Cosine similarity of `query` to each of `docs` (character 1–2-grams, TF-IDF fitted on them)."""
    if not docs or not (query or "").strip():
        return np.zeros(len(docs))
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    try:
        matrix = vec.fit_transform([normalize_text(query), *map(normalize_text, docs)])
    except ValueError:  # empty vocabulary
        return np.zeros(len(docs))
    return (matrix[1:] @ matrix[0].T).toarray().ravel()


def similar_texts(text: str, candidates: Sequence[Case], threshold: float = TEXT_THRESHOLD) -> list[Case]:
    """Those of `candidates` (cases already read) whose text describes the same matter as `text`."""
    if not candidates or not (text or "").strip():
        return []
    sims = text_similarities(text, [case_text(c) for c in candidates])
    return [c for c, s in zip(candidates, sims, strict=True) if s >= threshold]


def same_matter_by_text(
    *, customer, text: str, before: dt.datetime, window_days: int, threshold: float = TEXT_THRESHOLD
) -> list[Case]:
    """Earlier complaints of the same customer whose text describes the same matter.

    `kesu.cases.grading.count_same_matter` matches on identifiers (subject number, category) and
    compares the text of the rest of the same bounded read (`similar_texts`); this is the text part
    alone, over the customer's most recent `MAX_EARLIER` complaints in the window.
    """
    if customer is None or not (text or "").strip():
        return []
    earlier = list(
        Case.objects.filter(
            same_person_q(customer),
            received_at__lt=before,
            received_at__gte=before - dt.timedelta(days=window_days),
        )
        .exclude(kind__in=[Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION])
        .exclude(status="invalid")
        .order_by("-received_at", "-pk")[:MAX_EARLIER]
    )
    return similar_texts(text, earlier, threshold)
