"""Masking of personal information (PIPL: minimum necessary, role-based access).

Exports, reports, lists and the API show a customer's phone, ID number, e-mail and
address masked unless the reader's role needs them to handle the complaint
(`can_see_pii`). Analysts, archivists and system administrators see masked values.

    >>> mask_phone("13812345678")
    '138****5678'
"""

from __future__ import annotations

import re

from kesu.org import roles
from kesu.org.selectors import user_roles

# Roles that work with the complainant and therefore may see contact data unmasked.
PII_ROLES = frozenset(
    {
        roles.INTAKE,
        roles.HANDLER,
        roles.DEPT_HEAD,
        roles.SUPERVISOR,
        roles.CS_MANAGER,
        roles.GENERAL_MANAGER,
        roles.FOLLOWUP,
        roles.RISK,
    }
)


def can_see_pii(user) -> bool:
    """True when `user` may see customers' personal information unmasked."""
    if not getattr(user, "is_authenticated", False):
        return False
    # Django superusers get ADMIN through user_roles; ADMIN alone is not a business role.
    return bool(set(user_roles(user)) & PII_ROLES)


def mask_phone(phone: str | None) -> str:
    """`13812345678` → `138****5678`; short numbers keep only their last 2 digits."""
    if not phone:
        return ""
    phone = str(phone)
    if len(phone) >= 11:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    if len(phone) >= 7:
        return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]
    return "*" * max(1, len(phone) - 2) + phone[-2:]


def mask_id(id_number: str | None) -> str:
    """ID card numbers keep the first 3 and last 4 characters: `110***********123X`."""
    if not id_number:
        return ""
    s = str(id_number)
    if len(s) <= 4:
        return "*" * len(s)
    if len(s) <= 8:
        return s[0] + "*" * (len(s) - 2) + s[-1]
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def mask_email(email: str | None) -> str:
    """`zhangsan@example.com` → `z***n@example.com`."""
    if not email:
        return ""
    local, sep, domain = str(email).partition("@")
    if not sep:
        return mask_name(local)
    if len(local) <= 2:
        masked = local[:1] + "*"
    else:
        masked = local[0] + "***" + local[-1]
    return f"{masked}@{domain}"


def mask_address(address: str | None) -> str:
    """Keep the first 6 characters (province/city/district), mask the rest: `上海市浦东新区****`."""
    if not address:
        return ""
    s = str(address)
    keep = min(6, max(1, len(s) // 2))
    return s[:keep] + "****"


def mask_name(name: str | None) -> str:
    """`张三` → `张*`, `欧阳娜娜` → `欧***`."""
    if not name:
        return ""
    s = str(name)
    return s[0] + "*" * max(1, len(s) - 1)


_TEXT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_TEXT_PHONE = re.compile(r"(?<!\d)(\+?86[-\s]?)?(1\d{10}|0\d{2,3}-?\d{7,8})(?!\d)")
_TEXT_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def mask_text(text: str | None, *, names: list[str] | tuple[str, ...] = ()) -> str:
    """Free text with the identifiers in it masked: ID numbers, phone numbers, e-mail addresses, and the
    given `names` (the customer's). For text shown beyond the people who handle the complaint (the
    typical-case library)."""
    if not text:
        return ""
    out = _TEXT_ID.sub(lambda m: mask_id(m.group(0)), str(text))
    out = _TEXT_PHONE.sub(lambda m: mask_phone(m.group(0)), out)
    out = _TEXT_EMAIL.sub(lambda m: mask_email(m.group(0)), out)
    for name in names:
        if name and len(name) >= 2:
            out = out.replace(name, mask_name(name))
    return out


def masked_customer(customer, *, reveal: bool) -> dict[str, str]:
    """A customer's contact fields as shown to a reader (masked unless `reveal`)."""
    if customer is None:
        return {"name": "", "phone": "", "email": "", "address": "", "id_number": ""}
    if reveal:
        return {
            "name": customer.name,
            "phone": customer.phone,
            "email": customer.email,
            "address": customer.address,
            "id_number": customer.id_number,
        }
    return {
        "name": mask_name(customer.name),
        "phone": mask_phone(customer.phone),
        "email": mask_email(customer.email),
        "address": mask_address(customer.address),
        "id_number": mask_id(customer.id_number),
    }


def present_customer(customer, viewer) -> dict | None:
    """The customer as the API and the web UI show it to `viewer`: one masking on every path (the
    exports use `masked_customer`, the same rules)."""
    if customer is None:
        return None
    masked = not can_see_pii(viewer)
    return {
        **masked_customer(customer, reveal=not masked),
        "policy_no": customer.policy_no,
        "account_no": customer.account_no,
        "masked": masked,
    }


def typical_case_entry(item) -> dict:
    """One entry of the typical-case library (a `TypicalCase`) as staff read it, on the web page and in
    the API alike: the case's summary and the lesson with personal data masked (the customer's name,
    phones, ID numbers, e-mail addresses in the text), whoever reads it — the library is for learning,
    not for handling the complaint."""
    case = item.case
    names = [case.customer.name] if case.customer_id and case.customer.name else []
    return {
        "number": case.number,
        "category": case.category.name if case.category_id else "",
        "level": case.level,
        "subject": mask_text(case.subject, names=names),
        "summary": mask_text(case.description[:300], names=names),
        "lesson": mask_text(item.lesson, names=names),
        "customer": mask_name(names[0]) if names else "",
        "marked_by": item.marked_by.get_full_name() or item.marked_by.username,
        "marked_at": item.marked_at,
    }
