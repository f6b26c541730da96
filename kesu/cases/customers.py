"""Finding the complainant among known customers."""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers
from django.db.models import Q

from kesu.cases.models import Customer

# Excel's rendering of a long number it took for a float (1.38123E+10): the digits are gone.
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
# A bare mainland mobile number, checked against the library's own pattern (no full parse needed).
_CN_MOBILE = re.compile(phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern)

PHONE_INVALID = "电话号码无效"
PHONE_SCIENTIFIC = "电话号码被 Excel 转成了科学计数法，原号码已丢失，请把该列设为文本后重新导出"


@functools.lru_cache(maxsize=65536)
def parse_phone(raw: str) -> tuple[str, str]:
    """(stored form, "") of a phone number, or ("", reason) when it is not a usable number.

    Parsed with `phonenumbers` for region CN: `+86`/`0086`/`(+86)` prefixes, separators and
    full-width digits are accepted. Stored forms: a mainland mobile as its 11 digits
    (13812345678), a landline as area code + number without separators (01062345678), a
    number abroad in E.164 (+16502530000). Excel's scientific notation is never a number.
    """
    text = unicodedata.normalize("NFKC", raw).strip() if not raw.isascii() else raw.strip()
    if not text:
        return "", ""
    if len(text) == 11 and text.isdigit() and _CN_MOBILE.fullmatch(text):
        return text, ""
    if _SCIENTIFIC.match(text):
        return "", PHONE_SCIENTIFIC
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return "", PHONE_INVALID
    if not phonenumbers.is_valid_number(number):
        return "", PHONE_INVALID
    if number.country_code != 86:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdigit()), ""


def normalize_phone(phone: str) -> str:
    """The stored form of a phone number (see `parse_phone`).

    Intake, search and repeat detection all compare this form, so the same person is found
    whichever way a source wrote the number. A number the library does not accept comes back as
    its digits, for callers that apply their own length check (the registration form); Excel's
    scientific notation comes back empty: its digits are not the number. The importer refuses
    both (`parse_phone` gives the reason).
    """
    if not phone:
        return ""
    stored, reason = parse_phone(phone)
    if stored or reason == PHONE_SCIENTIFIC:
        return stored
    return _digits(phone)


@functools.lru_cache(maxsize=4096)
def _digits(phone: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())


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
