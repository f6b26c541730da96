"""Many cases quickly, for the tests that compare query counts at two database sizes.

`clone_cases(template, n)` copies a case made through the real services (its row, its events with
their hash chain, its stage deadlines) `n` times with bulk inserts: the copies are as real as the
template for every reader, at the cost of a few queries instead of a few thousand.
"""

from __future__ import annotations

import itertools

from kesu.analytics.rollups import rebuild_daily_counts
from kesu.cases import chain
from kesu.cases.models import Case, CaseEvent, Customer
from kesu.sla.models import StageDeadline

_serial = itertools.count(1)


def clone_cases(template: Case, n: int, *, new_customers: bool = True, rollups: bool = True) -> list[Case]:
    template = Case.objects.get(pk=template.pk)
    events = list(CaseEvent.objects.filter(case_id=template.pk).order_by("seq"))
    stages = list(StageDeadline.objects.filter(case_id=template.pk))
    customers: list[Customer | None] = [template.customer] * n
    if new_customers and template.customer_id:
        base = Customer.objects.get(pk=template.customer_id)
        made = []
        for _ in range(n):
            c = Customer.objects.get(pk=base.pk)
            c.pk = None
            c.phone = f"1370{next(_serial):07d}"
            made.append(c)
        customers = Customer.objects.bulk_create(made)
    copies = []
    for customer in customers:
        c = Case.objects.get(pk=template.pk) if not copies else _copy(copies[0])
        c.pk = None
        c.number = f"{template.number[:14]}C{next(_serial):07d}"
        c.customer = customer
        c.client_key = None
        c.external_id = None
        copies.append(c)
    copies = Case.objects.bulk_create(copies)
    new_events, new_stages = [], []
    for case in copies:
        prev = chain.GENESIS
        for e in events:
            copy = _copy(e)
            copy.pk = None
            copy.case_id = case.pk
            chain.seal(copy, prev)
            prev = copy.hash
            new_events.append(copy)
        for s in stages:
            copy = _copy(s)
            copy.pk = None
            copy.case_id = case.pk
            new_stages.append(copy)
    CaseEvent.objects.bulk_create(new_events, batch_size=500)
    StageDeadline.objects.bulk_create(new_stages, batch_size=500)
    if rollups:
        rebuild_daily_counts()
    return copies


def _copy(obj):
    clone = type(obj)()
    clone.__dict__.update({k: v for k, v in obj.__dict__.items() if k != "_state"})
    return clone
