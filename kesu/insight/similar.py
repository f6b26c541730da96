"""Similar resolved cases: how comparable complaints were settled, for the handler of a new one.

For a case, the finished cases most like it — text, category, product, claimed amount — each with
what was done: the remedy and its amount, the reply given, the outcome (closing criterion) and the
follow-up satisfaction. Only cases the viewer may see are considered (`kesu.cases.permissions`):
a whistle-blowing report or another department's case never appears to a handler who may not view it,
and an archived case only to the archive keeper.

Bounded cost per request: candidates come from indexed queries (same category or same product,
newest closures first, at most `MAX_CANDIDATES`), and texts are vectorised with the active triage
model's fitted character vectorizer — or, before any model exists, a stateless hashing vectorizer.
Nothing is fitted per request.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize as l2_normalize

from kesu.cases import permissions
from kesu.cases.models import FINISHED_STATUSES, Case, CaseEvent, FollowUp, Kind, Proposal, Status
from kesu.cases.similarity import case_text, normalize_text
from kesu.insight import services
from kesu.org import roles
from kesu.org.i18n import display_name
from kesu.org.selectors import has_role

MAX_CANDIDATES = 400
# Weights of the score: the text carries most; same category/product and a comparable amount add to it.
W_TEXT, W_CATEGORY, W_PRODUCT, W_AMOUNT = 0.6, 0.2, 0.1, 0.1

_hashing = HashingVectorizer(
    analyzer="char", ngram_range=(1, 3), n_features=2**18, alternate_sign=False, norm=None
)


@dataclass
class SimilarCase:
    case_id: int
    number: str
    score: float
    text_similarity: float
    same_category: bool
    same_product: bool
    category: str
    product: str
    claimed_amount: str | None
    summary: str
    remedy: str | None
    remedy_label: str | None
    remedy_amount: str | None
    reply: str | None
    outcome: str
    satisfaction: int | None
    satisfied: bool | None
    closed_at: str | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _vectorize(texts: list[str], active: tuple[int, Any] | None | bool = False):
    """Rows of L2-normalised character n-gram vectors, with the trained model's vocabulary when there is
    one (`active`: services.active_classifier_with_id(), read here when not given)."""
    docs = [normalize_text(t) for t in texts]
    if active is False:
        active = services.active_classifier_with_id()
    if active is not None:
        chars = active[1].pipeline.named_steps["features"].transformer_list[0][1]
        return l2_normalize(chars.transform(docs))
    counts = _hashing.transform(docs)
    return l2_normalize(TfidfTransformer(sublinear_tf=True, use_idf=False).fit_transform(counts))


# The vectors of candidate texts, kept between requests. Every step of `_vectorize` works on each row by
# itself (counts or the fitted model's weights, sublinear tf without idf, the row's own norm), so a row
# computed once is exactly the row computed again by the same vectorizer: cached by case id with the
# text it was computed from (a changed text is computed anew), emptied when the active model changes.
# Vectorising the 400 candidates was most of the case page's CPU time at 100k cases (issue 19,
# profiled). Bounded: the least recently used go first.
VECTOR_CACHE_SIZE = 8192
_vectors: OrderedDict[int, tuple[str, np.ndarray, np.ndarray]] = OrderedDict()
_vectors_lock = threading.Lock()
_vectors_of: list[Any] = [None]  # the classifier the cached rows come from (None: the hashing vectorizer)


def clear_vector_cache() -> None:
    with _vectors_lock:
        _vectors.clear()


def _candidate_matrix(pool: list[Candidate], texts: list[str], active, n_features: int) -> csr_matrix:
    """The rows of `_vectorize(texts, active)` for the candidates `pool` (texts[i] is pool[i]'s), cached
    rows reused."""
    model = active[1] if active is not None else None
    rows: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(pool)
    missing: list[int] = []
    with _vectors_lock:
        if _vectors_of[0] is not model:
            _vectors.clear()
            _vectors_of[0] = model
        for i, (c, text) in enumerate(zip(pool, texts, strict=True)):
            hit = _vectors.get(c.pk)
            if hit is not None and hit[0] == text:
                _vectors.move_to_end(c.pk)
                rows[i] = (hit[1], hit[2])
            else:
                missing.append(i)
    if missing:
        fresh = csr_matrix(_vectorize([texts[i] for i in missing], active))
        made = {}
        for j, i in enumerate(missing):
            start, end = fresh.indptr[j], fresh.indptr[j + 1]
            rows[i] = (fresh.indices[start:end].copy(), fresh.data[start:end].copy())
            made[pool[i].pk] = (texts[i], *rows[i])
        with _vectors_lock:
            if _vectors_of[0] is model:  # not if another request has meanwhile moved to a new model
                _vectors.update(made)
            while len(_vectors) > VECTOR_CACHE_SIZE:
                _vectors.popitem(last=False)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r[0]) for r in rows], out=indptr[1:])
    indices = np.concatenate([r[0] for r in rows])
    data = np.concatenate([r[1] for r in rows])
    return csr_matrix((data, indices, indptr), shape=(len(rows), n_features))


def _amount_closeness(a: Decimal | None, b: Decimal | None) -> float:
    """1 for equal amounts, falling to 0 at a factor of ten apart; 0 when either is unknown."""
    if not a or not b or a <= 0 or b <= 0:
        return 0.0
    return max(0.0, 1.0 - abs(math.log10(float(a) / float(b))))


# What `similar_resolved_cases` reads of a candidate: its text (case_text), category, product and amount
# for the score, and what the result shows.
CANDIDATE_FIELDS = (
    "pk",
    "number",
    "subject",
    "description",
    "demands",
    "category_id",
    "category__name",
    "category__name_en",
    "product",
    "claimed_amount",
    "closing_criterion",
    "status",
    "satisfaction",
    "closed_at",
)


@dataclass(frozen=True, slots=True)
class CategoryName:
    name: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A finished case as the scoring reads it: up to 400 of these are read for every case page, and
    value rows cost a fraction of model instances (issue 19: 27 → a few ms per page at 100k cases)."""

    pk: int
    number: str
    subject: str
    description: str
    demands: str
    category_id: int | None
    category: CategoryName | None
    product: str
    claimed_amount: Decimal | None
    closing_criterion: str
    status: str
    satisfaction: int | None
    closed_at: Any


def _candidate(row: tuple) -> Candidate:
    pk, number, subject, description, demands, category_id, cat_name, cat_name_en, *rest = row
    category = CategoryName(cat_name, cat_name_en or "") if category_id else None
    return Candidate(pk, number, subject, description, demands, category_id, category, *rest)


def candidates(user, case: Case) -> list[Candidate]:
    """Finished cases the user may see, of the same category or product, newest closures first (then
    the highest id; cases finished without a closing time, e.g. imported history, after all others).

    One walk per key — the category's, the product's — each along its own index of finished cases
    (`case_finished_category_idx`, `case_finished_product_idx`: closed_at is set only on finished cases,
    so the partial indexes hold nothing else), newest first, stopping after `MAX_CANDIDATES` rows; merged
    here. The indexes also hold the columns the walks filter on (status, kind, the report's recipient),
    so a walk for a company-wide reader is an index-only scan: without them PostgreSQL preferred the
    single-column closed_at index (the column follows the table's physical order) and filtered 10,000
    rows for 400, 80 ms; with them 0.3 ms (EXPLAIN ANALYZE at 100k cases). One walk over both keys along `closed_at` alone passed the open cases' empty closing times on
    PostgreSQL (NULLs sort first in a descending walk) and every case of other categories and products,
    a cost that grew with the history: 30 ms of database CPU per case page at 100k cases (issue 19).
    """
    walks, undated = candidate_walks(user, case)
    # The walks read the id and the closing time only (from the index itself: an index-only scan), the
    # columns scoring and the result read (not the wide case rows: 400 whole rows were most of the
    # panel's cost, issue 19) are read once, for the merged list's cases only.
    found: dict[int, Any] = {}
    for walk in walks:
        found.update(walk.values_list("pk", "closed_at")[:MAX_CANDIDATES])
    ranked = sorted(found, key=lambda pk: (found[pk], pk), reverse=True)[:MAX_CANDIDATES]
    rows = {row[0]: row for row in Case.objects.filter(pk__in=ranked).values_list(*CANDIDATE_FIELDS)}
    out = [_candidate(rows[pk]) for pk in ranked if pk in rows]
    if len(ranked) < MAX_CANDIDATES:
        # Finished without a closing time (imported history): asked only when the dated ones do not
        # fill the list.
        rest = undated.values_list(*CANDIDATE_FIELDS)[: MAX_CANDIDATES - len(ranked)]
        out += [_candidate(row) for row in rest]
    return out


def candidate_walks(user, case: Case) -> tuple[list[QuerySet[Case]], QuerySet[Case]]:
    """The ordered walks `candidates` takes (one per key, newest closure first) and the finished cases
    without a closing time (highest id first) that follow them."""
    qs = Case.objects.filter(status__in=FINISHED_STATUSES).exclude(pk=case.pk).exclude(kind=Kind.REPORT)
    if case.kind == Kind.REPORT:
        qs = Case.objects.filter(status__in=FINISHED_STATUSES, kind=Kind.REPORT).exclude(pk=case.pk)
    if not has_role(user, roles.ARCHIVIST):
        qs = qs.exclude(status=Status.ARCHIVED)  # reading an archived file needs the keeper's approval
    qs = permissions.visible_cases(user, qs).exclude(status=Status.INVALID)
    keys = []
    if case.category_id:
        keys.append(Q(category_id=case.category_id))
    if case.product:
        keys.append(Q(product=case.product))
    walks = [qs.filter(key, closed_at__isnull=False).order_by("-closed_at", "-id") for key in keys or [Q()]]
    match = Q()
    for key in keys:
        match |= key
    return walks, qs.filter(match, closed_at__isnull=True).order_by("-id")


def _resolutions(ids: list[int]) -> dict[int, dict[str, Any]]:
    """The last remedy proposal, the last reply and the last follow-up of each case (three queries)."""
    out: dict[int, dict[str, Any]] = {i: {} for i in ids}
    for p in (
        Proposal.objects.filter(case_id__in=ids)
        .exclude(state=Proposal.State.REJECTED)
        .order_by("proposed_at")
    ):
        out[p.case_id]["remedy"] = p
    for e in (
        CaseEvent.objects.filter(case_id__in=ids, action="reply").order_by("seq").only("case_id", "payload")
    ):
        out[e.case_id]["reply"] = (e.payload or {}).get("text")
    for f in FollowUp.objects.filter(case_id__in=ids).order_by("contacted_at"):
        out[f.case_id]["follow_up"] = f
    return out


def similar_resolved_cases(user, case: Case, *, limit: int = 5) -> list[SimilarCase]:
    """The finished cases most like `case` that `user` may see, best first, with how each was resolved."""
    pool = candidates(user, case)
    if not pool:
        return []
    active = services.active_classifier_with_id()
    query = csr_matrix(_vectorize([case_text(case)], active))
    matrix = _candidate_matrix(pool, [case_text(c) for c in pool], active, query.shape[1])
    sims = np.asarray((matrix @ query.T).todense()).ravel()
    scored = []
    for c, sim in zip(pool, sims, strict=True):
        same_cat = bool(case.category_id and c.category_id == case.category_id)
        same_prod = bool(case.product and c.product == case.product)
        amount = _amount_closeness(case.claimed_amount, c.claimed_amount)
        score = W_TEXT * float(sim) + W_CATEGORY * same_cat + W_PRODUCT * same_prod + W_AMOUNT * amount
        scored.append((score, float(sim), same_cat, same_prod, amount, c))
    scored.sort(key=lambda s: (-s[0], -s[5].pk))
    top = scored[:limit]
    res = _resolutions([s[5].pk for s in top])
    labels = dict(Proposal._meta.get_field("remedy_type").choices)
    out = []
    for score, sim, same_cat, same_prod, amount, c in top:
        r = res[c.pk]
        remedy, fu = r.get("remedy"), r.get("follow_up")
        reasons = [_("文本相似度 %(similarity).2f") % {"similarity": sim}]
        if same_cat:
            reasons.append(_("同一分类"))
        if same_prod:
            reasons.append(_("同一产品"))
        if amount >= 0.5:
            reasons.append(_("金额相近"))
        out.append(
            SimilarCase(
                case_id=c.pk,
                number=c.number,
                score=round(score, 3),
                text_similarity=round(sim, 3),
                same_category=same_cat,
                same_product=same_prod,
                category=display_name(c.category) if c.category_id else "",
                product=c.product,
                claimed_amount=str(c.claimed_amount) if c.claimed_amount is not None else None,
                summary=(c.subject or c.description)[:120],
                remedy=remedy.remedy_type if remedy else None,
                remedy_label=str(labels.get(remedy.remedy_type, remedy.remedy_type)) if remedy else None,
                remedy_amount=str(remedy.amount) if remedy else None,
                reply=r.get("reply"),
                outcome=c.closing_criterion or c.status,
                satisfaction=fu.score if fu else c.satisfaction,
                satisfied=fu.satisfied if fu else None,
                closed_at=c.closed_at.isoformat() if c.closed_at else None,
                reasons=reasons,
            )
        )
    return out
