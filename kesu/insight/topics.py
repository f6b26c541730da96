"""Emerging topics: themes of the last week that the existing categories do not explain. Pure
numpy/scikit-learn, no Django.

Recent texts are grouped by leader clustering on character 2–3-gram TF-IDF vectors (each text joins
the most similar group whose centroid it resembles enough, else starts one). A group is *emerging*
when
- it has at least `min_size` complaints,
- it grew: its size against the weekly mean of earlier complaints that resemble its centroid as much
  (the reference weeks) is at least `min_growth` (a theme absent before grows from 0.5 a week), and
- its category does not explain it: the group's centroid is further from its dominant category's
  centroid in the reference weeks than most of that category's complaints were (the lower quartile of
  their similarity to it); a category without earlier complaints explains nothing yet.
Each topic comes with its size, growth, top character n-grams as a label, example texts, and the
categories and departments involved. The vectorizer is fitted once per weekly run, over at most
`max_docs` texts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as l2_normalize


@dataclass
class Doc:
    key: str  # the case number
    text: str
    category: str  # category name ("" when not classified)
    department: str  # department name ("" when not routed)


@dataclass
class Topic:
    label: str
    terms: list[str]
    size: int
    previous_weekly: float
    growth: float
    category_fit: float  # cosine of the group's centroid to its dominant category's centroid
    category_typical: float  # lower quartile of the cosines of that category's complaints to its centroid
    categories: dict[str, int]
    departments: dict[str, int]
    examples: list[dict[str, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


_DIGITS = re.compile(r"\d+")


def _normalize(text: str) -> str:
    # Order and amount numbers differ in every complaint; they say nothing about the theme.
    return _DIGITS.sub("0", (text or "").lower())


def _leader_clusters(x, threshold: float) -> list[list[int]]:
    """Each row joins the group whose centroid it is most similar to (≥ threshold), else opens one."""
    groups: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i in range(x.shape[0]):
        row = x[i].toarray().ravel()
        best, best_sim = -1, threshold
        for g, s in enumerate(sums):
            norm = np.linalg.norm(s)
            sim = float(row @ s / norm) if norm else 0.0
            if sim >= best_sim:
                best, best_sim = g, sim
        if best < 0:
            groups.append([i])
            sums.append(row.copy())
        else:
            groups[best].append(i)
            sums[best] += row
    return groups


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n else v


def emerging_topics(
    recent: Sequence[Doc],
    reference: Sequence[Doc],
    *,
    reference_weeks: float,
    min_size: int = 3,
    min_growth: float = 2.0,
    threshold: float = 0.3,
    max_docs: int = 20000,
    examples: int = 3,
) -> list[Topic]:
    """The emerging groups among `recent` (one week) against `reference` (the weeks before), largest first."""
    recent, reference = list(recent)[-max_docs // 2 :], list(reference)[-max_docs // 2 :]
    if len(recent) < min_size:
        return []
    vec = TfidfVectorizer(
        analyzer="char",
        ngram_range=(2, 3),
        preprocessor=_normalize,
        sublinear_tf=True,
        min_df=2,
        dtype=np.float32,
    )
    try:
        vec.fit([d.text for d in recent] + [d.text for d in reference])
    except ValueError:  # empty vocabulary
        return []
    xr = l2_normalize(vec.transform([d.text for d in recent]))
    xp = l2_normalize(vec.transform([d.text for d in reference])) if reference else None
    terms = np.asarray(vec.get_feature_names_out())
    # Category centroids and their typical member similarity, from the reference weeks: what each
    # category meant before this week (a category without earlier complaints explains nothing yet).
    centroids: dict[str, np.ndarray] = {}
    typical: dict[str, float] = {}
    by_cat: dict[str, list[int]] = {}
    for i, d in enumerate(reference):
        if d.category:
            by_cat.setdefault(d.category, []).append(i)
    for cat, idx in by_cat.items():
        c = _unit(np.asarray(xp[idx].mean(axis=0)).ravel())
        centroids[cat] = c
        typical[cat] = float(np.quantile(xp[idx] @ c, 0.25))
    background = np.asarray((xp if xp is not None else xr).mean(axis=0)).ravel()
    out = []
    for group in _leader_clusters(xr, threshold):
        if len(group) < min_size:
            continue
        centroid = _unit(np.asarray(xr[group].mean(axis=0)).ravel())
        # Earlier complaints as close to the centroid as this week's members are: the theme's past volume.
        member_sims = xr[group] @ centroid
        cut = float(np.min(member_sims))
        before = int((xp @ centroid >= cut).sum()) if xp is not None else 0
        weekly = before / max(reference_weeks, 1.0)
        growth = len(group) / max(weekly, 0.5)
        cats = Counter(recent[i].category for i in group if recent[i].category)
        dominant = cats.most_common(1)[0][0] if cats else ""
        fit = float(centroid @ centroids[dominant]) if dominant in centroids else 0.0
        usual = typical.get(dominant, 1.0)  # no earlier complaints of the category: unexplained
        if growth < min_growth or (dominant and fit >= usual):
            continue
        lift = centroid - _unit(background)
        top = [str(t) for t in terms[np.argsort(-lift)[:6]]]
        order = [group[j] for j in np.argsort(-np.asarray(member_sims).ravel())]
        out.append(
            Topic(
                label="、".join(top[:3]),
                terms=top,
                size=len(group),
                previous_weekly=round(weekly, 2),
                growth=round(growth, 2),
                category_fit=round(fit, 3),
                category_typical=round(usual, 3),
                categories=dict(cats.most_common()),
                departments=dict(
                    Counter(recent[i].department for i in group if recent[i].department).most_common()
                ),
                examples=[{"key": recent[i].key, "text": recent[i].text[:120]} for i in order[:examples]],
                keys=[recent[i].key for i in group],
            )
        )
    out.sort(key=lambda t: (-t.size, -t.growth))
    return out
