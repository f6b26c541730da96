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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Q
from django.utils.translation import gettext as _
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


def _vectorize(texts: list[str]):
    """Rows of L2-normalised character n-gram vectors, with the trained model's vocabulary when there is one."""
    docs = [normalize_text(t) for t in texts]
    active = services.active_classifier()
    if active is not None:
        chars = active.pipeline.named_steps["features"].transformer_list[0][1]
        return l2_normalize(chars.transform(docs))
    counts = _hashing.transform(docs)
    return l2_normalize(TfidfTransformer(sublinear_tf=True, use_idf=False).fit_transform(counts))


def _amount_closeness(a: Decimal | None, b: Decimal | None) -> float:
    """1 for equal amounts, falling to 0 at a factor of ten apart; 0 when either is unknown."""
    if not a or not b or a <= 0 or b <= 0:
        return 0.0
    return max(0.0, 1.0 - abs(math.log10(float(a) / float(b))))


def candidates(user, case: Case) -> list[Case]:
    """Finished cases the user may see, of the same category or product (indexed), newest closures first."""
    match = Q()
    if case.category_id:
        match |= Q(category_id=case.category_id)
    if case.product:
        match |= Q(product=case.product)
    qs = Case.objects.filter(status__in=FINISHED_STATUSES).exclude(pk=case.pk).exclude(kind=Kind.REPORT)
    if case.kind == Kind.REPORT:
        qs = Case.objects.filter(status__in=FINISHED_STATUSES, kind=Kind.REPORT).exclude(pk=case.pk)
    if match:
        qs = qs.filter(match)
    if not has_role(user, roles.ARCHIVIST):
        qs = qs.exclude(status=Status.ARCHIVED)  # reading an archived file needs the keeper's approval
    qs = permissions.visible_cases(user, qs).exclude(status=Status.INVALID)
    return list(qs.select_related("category").order_by("-closed_at", "-id")[:MAX_CANDIDATES])


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
    matrix = _vectorize([case_text(case)] + [case_text(c) for c in pool])
    sims = np.asarray((matrix[1:] @ matrix[0].T).todense()).ravel()
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
