"""Finding the complainant among known customers."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db.models import Case, Q, QuerySet, Value, When

from kesu.cases import prepared
from kesu.cases.models import Customer
from kesu.cases.phones import normalize_phone


def find_customer(
    *, phone: str = "", id_number: str = "", policy_no: str = "", account_no: str = ""
) -> Customer | None:
    """The known customer with the strongest matching identifier: ID number, then phone, then relation numbers."""
    wanted = [
        (field, value)
        for field, value in (
            ("id_number", id_number.strip().upper()),
            ("phone", normalize_phone(phone)),
            ("policy_no", policy_no.strip()),
            ("account_no", account_no.strip()),
        )
        if value
    ]
    if not wanted:
        return None
    # One statement for every identifier given (a new complainant, the common case, matches none; each
    # identifier read on its own was a round trip): the OR of the indexed lookups (a multi-index OR on
    # both databases, over the few customers sharing an identifier), the strongest match first.
    # Compiled once per connection and set of identifiers (kesu.cases.prepared): the compile cost ~0.5 ms
    # of every registration.
    names = tuple(field for field, _value in wanted)
    found = prepared.fetch(("find_customer", names), _strongest_match(names), [v for _f, v in wanted])
    return found[0] if found else None


@functools.cache
def _strongest_match(names: tuple[str, ...]) -> Callable[..., QuerySet]:
    """The query of `find_customer` for these identifiers, as a function of their values."""

    def build(*values: str) -> QuerySet:
        pairs = list(zip(names, values, strict=True))
        match = Q()
        for field, value in pairs:
            match |= Q(**{field: value})
        strength = Case(
            *(When(**{field: value}, then=Value(rank)) for rank, (field, value) in enumerate(pairs))
        )
        return Customer.objects.filter(match).order_by(strength, "pk")[:1]

    return build


def find_or_create(
    *,
    name: str = "",
    phone: str = "",
    email: str = "",
    address: str = "",
    id_number: str = "",
    policy_no: str = "",
    account_no: str = "",
) -> tuple[Customer, bool]:
    """The known customer (filled in with what was not known yet) or a new one; True when new.

    A new customer matched none of the identifiers `same_person_q` compares, so no case belongs to
    the same person yet: registration skips the history lookup for it.
    """
    customer = find_customer(phone=phone, id_number=id_number, policy_no=policy_no, account_no=account_no)
    fields = {
        "name": name.strip(),
        "phone": normalize_phone(phone),
        "email": email.strip(),
        "address": address.strip(),
        "id_number": id_number.strip().upper(),
        "policy_no": policy_no.strip(),
        "account_no": account_no.strip(),
    }
    if customer is None:
        return Customer.objects.create(**fields), True
    # Fill in what we did not know yet; never overwrite a known identifier silently.
    changed = [k for k, v in fields.items() if v and not getattr(customer, k)]
    for key in changed:
        setattr(customer, key, fields[key])
    if changed:
        customer.save()
    return customer, False


def same_person_q(customer: Customer) -> Q:
    """Cases of the same person, matched on any strong identifier (a customer may exist twice).

    The matching customers are looked up first (each identifier is indexed on the customer table),
    so the case query is one indexed `customer_id IN (...)` instead of an OR across a join, which
    databases answer with a scan of every case.
    """
    match = Q(pk=customer.pk)
    for field in ("id_number", "phone", "policy_no", "account_no"):
        value = getattr(customer, field)
        if value:
            match |= Q(**{field: value})
    ids = list(Customer.objects.filter(match).values_list("pk", flat=True)[:1000])
    return Q(customer_id__in=ids)
