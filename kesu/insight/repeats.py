"""Repeat, duplicate and group-complaint detection.

`find_related` answers, at intake or import, "which earlier cases belong with this one?":
- the same customer: phone, ID number, policy/contract or account number, normalised name;
- the same matter: the same subject (policy/contract/order) number, or a similar text within a
  time window (cosine similarity of character 1–2-gram TF-IDF vectors).
Each hit comes with a score in [0, 1] and the reasons, strongest first.

`detect_groups` finds group complaints (群体投诉): many distinct customers on the same matter
(similar text, or the same product and category) in a short window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Q
from django.utils import timezone
from sklearn.feature_extraction.text import TfidfVectorizer

from kesu.cases.models import Case, Kind
from kesu.cases.permissions import visible_cases
from kesu.cases.phones import normalize_phone
from kesu.cases.similarity import TEXT_THRESHOLD, case_text, text_similarities
from kesu.cases.similarity import normalize_text as normalize
from kesu.org.i18n import display_name

MAX_TEXT_CANDIDATES = 3000


@dataclass
class Related:
    case_id: int
    number: str
    received_at: dt.datetime
    score: float
    same_customer: bool
    same_matter: bool
    reasons: list[str] = field(default_factory=list)
    status: str = ""
    category: str = ""
    summary: str = ""


def _customer_q(customer: dict) -> tuple[Q | None, dict[str, str]]:
    """Query for cases of the same customer, and the identifiers it was built from."""
    ids = {
        "phone": normalize_phone(str(customer.get("phone") or "")),
        "id_number": str(customer.get("id_number") or "").strip().upper(),
        "policy_no": str(customer.get("policy_no") or "").strip(),
        "account_no": str(customer.get("account_no") or "").strip(),
        "name": "".join(str(customer.get("name") or "").split()).lower(),
    }
    q = None
    for key, lookup in (
        ("phone", "customer__phone"),
        ("id_number", "customer__id_number"),
        ("policy_no", "customer__policy_no"),
        ("account_no", "customer__account_no"),
        ("name", "customer__name_normalized"),
    ):
        if ids[key]:
            part = Q(**{lookup: ids[key]})
            q = part if q is None else q | part
    return q, ids


IDENTIFIER_WEIGHTS = {"id_number": 1.0, "phone": 0.95, "policy_no": 0.9, "account_no": 0.9, "name": 0.5}
IDENTIFIER_LABELS = {
    "id_number": "证件号相同",
    "phone": "电话相同",
    "policy_no": "保单/合同号相同",
    "account_no": "账号/订单号相同",
    "name": "姓名相同",
}


def find_related(
    text: str,
    customer: dict | None = None,
    subject_no: str = "",
    received_at: dt.datetime | None = None,
    window_days: int = 90,
    *,
    exclude_pk: int | None = None,
    limit: int = 10,
    text_threshold: float = TEXT_THRESHOLD,
    visible_to: Any = None,
) -> list[Related]:
    """Earlier cases of the same customer or the same matter, best first.

    Customer matches look back over the whole window of a year at most (a customer's history
    matters for grading); text matches only within `window_days` before `received_at`.

    `visible_to`: a person the answer is shown to — only the cases they may see
    (kesu.cases.permissions.visible_cases) are candidates, so neither numbers nor summaries of hidden
    cases (whistle-blowing reports, other departments) reach them. None: every case (internal use).
    """
    received_at = received_at or timezone.now()
    customer = customer or {}
    found: dict[int, Related] = {}

    def add(case: Case, score: float, reason: str, *, same_customer: bool, same_matter: bool) -> None:
        r = found.get(case.pk)
        if r is None:
            r = found[case.pk] = Related(
                case.pk,
                case.number,
                case.received_at,
                0.0,
                False,
                False,
                status=case.status,
                category=display_name(case.category) if case.category_id else "",
                summary=(case.subject or case.description)[:60],
            )
        # Independent evidence combines: 1 - Π(1 - s).
        r.score = 1 - (1 - r.score) * (1 - score)
        r.same_customer |= same_customer
        r.same_matter |= same_matter
        if reason not in r.reasons:
            r.reasons.append(reason)

    base = Case.objects.filter(received_at__lte=received_at).select_related("customer", "category")
    if exclude_pk:
        base = base.exclude(pk=exclude_pk)
    if visible_to is not None:
        base = visible_cases(visible_to, base)

    q, ids = _customer_q(customer)
    if q is not None:
        since = received_at - dt.timedelta(days=max(window_days, 365))
        for case in base.filter(q, received_at__gte=since).order_by("-received_at")[:200]:
            c = case.customer
            for key, attr in (
                ("id_number", "id_number"),
                ("phone", "phone"),
                ("policy_no", "policy_no"),
                ("account_no", "account_no"),
                ("name", "name_normalized"),
            ):
                if ids[key] and c is not None and getattr(c, attr) == ids[key]:
                    add(
                        case,
                        IDENTIFIER_WEIGHTS[key],
                        IDENTIFIER_LABELS[key],
                        same_customer=True,
                        same_matter=False,
                    )
    subject_no = (subject_no or "").strip()
    if subject_no:
        since = received_at - dt.timedelta(days=max(window_days, 365))
        for case in base.filter(
            Q(subject_no=subject_no) | Q(customer__policy_no=subject_no), received_at__gte=since
        ).order_by("-received_at")[:200]:
            add(case, 0.9, "涉及同一保单/合同/订单号", same_customer=False, same_matter=True)

    if (text or "").strip():
        since = received_at - dt.timedelta(days=window_days)
        candidates = list(
            base.filter(received_at__gte=since)
            .exclude(kind__in=[Kind.CONSULTATION, Kind.QUERY])
            .order_by("-received_at")[:MAX_TEXT_CANDIDATES]
        )
        if candidates:
            sims = text_similarities(text, [case_text(c) for c in candidates])
            for case, sim in zip(candidates, sims, strict=True):
                if sim >= text_threshold:
                    add(case, float(sim), f"内容相似（{sim:.0%}）", same_customer=False, same_matter=True)
        # A text match of the same customer is the same matter of the same customer.
    out = sorted(found.values(), key=lambda r: (-r.score, -r.received_at.timestamp()))
    for r in out:
        r.score = round(r.score, 3)
    return out[:limit]


def related_for_case(
    case: Case, *, window_days: int = 90, limit: int = 10, visible_to: Any = None
) -> list[Related]:
    c = case.customer
    customer = (
        {
            "phone": c.phone,
            "id_number": c.id_number,
            "policy_no": c.policy_no,
            "account_no": c.account_no,
            "name": c.name,
        }
        if c is not None
        else {}
    )
    return find_related(
        case_text(case),
        customer,
        case.subject_no,
        case.received_at,
        window_days,
        exclude_pk=case.pk,
        limit=limit,
        visible_to=visible_to,
    )


# -- group complaints -------------------------------------------------------------------------------
@dataclass
class Group:
    key: str
    title: str
    case_ids: list[int]
    customers: int
    start: dt.datetime
    end: dt.datetime


def _customer_key(case: Case) -> str:
    if case.customer_id is None:
        return f"case:{case.pk}"
    c = case.customer
    return c.id_number or c.phone or f"cust:{c.pk}"


def detect_groups(
    *,
    now: dt.datetime | None = None,
    window_days: int = 3,
    min_customers: int = 5,
    text_threshold: float = 0.5,
) -> list[Group]:
    """Matters raised by at least `min_customers` distinct customers within the window."""
    now = now or timezone.now()
    cases = list(
        Case.objects.filter(received_at__gte=now - dt.timedelta(days=window_days), received_at__lte=now)
        .exclude(kind__in=[Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION])
        .select_related("customer", "category")
        .order_by("received_at")[:MAX_TEXT_CANDIDATES]
    )
    groups: list[Group] = []
    # 1. The same product and category.
    by_key: dict[tuple[str, int], list[Case]] = {}
    for c in cases:
        if c.product and c.category_id:
            by_key.setdefault((c.product, c.category_id), []).append(c)
    for (product, _cat), members in by_key.items():
        custs = {_customer_key(c) for c in members}
        if len(custs) >= min_customers:
            cat = members[0].category.name
            groups.append(
                Group(
                    f"product:{product}|category:{members[0].category.code}",
                    f"{product}·{cat}：{len(custs)} 位客户",
                    [c.pk for c in members],
                    len(custs),
                    members[0].received_at,
                    members[-1].received_at,
                )
            )
    # 2. Similar texts: connected components of the similarity graph.
    if len(cases) >= min_customers:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        try:
            m = vec.fit_transform([normalize(case_text(c)) for c in cases])
        except ValueError:
            m = None
        if m is not None:
            sims = (m @ m.T).toarray()
            parent = list(range(len(cases)))

            def find(i: int) -> int:
                while parent[i] != i:
                    parent[i] = parent[parent[i]]
                    i = parent[i]
                return i

            rows, cols = np.nonzero(np.triu(sims, 1) >= text_threshold)
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
                parent[find(i)] = find(j)
            comps: dict[int, list[int]] = {}
            for i in range(len(cases)):
                comps.setdefault(find(i), []).append(i)
            covered = {frozenset(g.case_ids) for g in groups}
            for idx in comps.values():
                members = [cases[i] for i in idx]
                custs = {_customer_key(c) for c in members}
                ids = [c.pk for c in members]
                if len(custs) >= min_customers and frozenset(ids) not in covered:
                    first = members[0]
                    groups.append(
                        Group(
                            f"text:{first.pk}",
                            f"相似投诉（{(first.subject or first.description)[:30]}）：{len(custs)} 位客户",
                            ids,
                            len(custs),
                            members[0].received_at,
                            members[-1].received_at,
                        )
                    )
    return groups
