"""Finding the complainant among known customers."""

from __future__ import annotations

from django.db.models import Q

from kesu.cases.models import Customer


def normalize_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def find_customer(
    *, phone: str = "", id_number: str = "", policy_no: str = "", account_no: str = ""
) -> Customer | None:
    """The known customer with the strongest matching identifier: ID number, then phone, then relation numbers."""
    phone = normalize_phone(phone)
    for field, value in (
        ("id_number", id_number.strip().upper()),
        ("phone", phone),
        ("policy_no", policy_no.strip()),
        ("account_no", account_no.strip()),
    ):
        if value:
            found = Customer.objects.filter(**{field: value}).order_by("pk").first()
            if found:
                return found
    return None


def find_or_create_customer(
    *,
    name: str = "",
    phone: str = "",
    email: str = "",
    address: str = "",
    id_number: str = "",
    policy_no: str = "",
    account_no: str = "",
) -> Customer:
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
        return Customer.objects.create(**fields)
    # Fill in what we did not know yet; never overwrite a known identifier silently.
    changed = [k for k, v in fields.items() if v and not getattr(customer, k)]
    for key in changed:
        setattr(customer, key, fields[key])
    if changed:
        customer.save()
    return customer


def same_person_q(customer: Customer) -> Q:
    """Cases of the same person, matched on any strong identifier (a customer may exist twice)."""
    q = Q(customer=customer)
    if customer.id_number:
        q |= Q(customer__id_number=customer.id_number)
    if customer.phone:
        q |= Q(customer__phone=customer.phone)
    if customer.policy_no:
        q |= Q(customer__policy_no=customer.policy_no)
    if customer.account_no:
        q |= Q(customer__account_no=customer.account_no)
    return q
