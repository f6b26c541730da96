"""The one phone-number normaliser: what every way in (the intake form, the public portal, the API,
e-mail and batch intake through `register_case`, file imports) stores, and what search, customer
matching and repeat detection compare, so the same person is found whichever way a source wrote
the number ("0086 130-1759-8020", "+86 13017598020", full-width digits, "(+86)130 1759 8020").

Pure functions without models, so a data migration can use them too (cases 0033 converts the
phones stored before this normaliser existed).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

import phonenumbers
from django.utils.translation import gettext_noop

# Excel's rendering of a long number it took for a float (1.38123E+10): the digits are gone.
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
# A bare mainland mobile number, checked against the library's own pattern (no full parse needed).
_CN_MOBILE = re.compile(phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern)

# Reasons, in the source language; callers show them through gettext (`_(reason)`).
PHONE_INVALID = gettext_noop("电话号码无效")
PHONE_SCIENTIFIC = gettext_noop("电话号码被 Excel 转成了科学计数法，原号码已丢失，请把该列设为文本后重新导出")


@functools.lru_cache(maxsize=65536)
def parse_phone(raw: str) -> tuple[str, str]:
    """(stored form, "") of a phone number, or ("", reason) when it is not a usable number, or
    ("", "") for a blank one.

    Parsed with `phonenumbers` for region CN: `+86`/`0086`/`(+86)` prefixes, separators and
    full-width digits are accepted. Stored forms: a mainland mobile as its 11 digits
    (13812345678), a landline as area code + number without separators (01062345678), a
    number abroad in E.164 (+16502530000). A stored form parses to itself, so normalising twice
    changes nothing. Excel's scientific notation is never a number; neither is a 10-digit mobile.
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
    """The form to compare a phone number by: its stored form (`parse_phone`).

    Every way in refuses a number `parse_phone` does not accept, so this fallback only serves
    looking up what was stored before the normaliser (numbers it could not convert are kept as
    they were, see `kesu phones`): such a number comes back as its digits, so a search for it
    still finds it. Excel's scientific notation comes back empty: its digits are not the number.
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


# --- phones stored before the normaliser -----------------------------------------------------------


@dataclass
class StoredPhonesReport:
    """What `normalise_stored_phones` did (or, with apply=False, would do)."""

    examined: int = 0
    converted: int = 0
    # (customer id, phone as stored, reason): left as they were, a person has to look at them.
    unusable: list[tuple[int, str, str]] = field(default_factory=list)
    # stored form → ids of the customers that now share it, where the conversion made them share it.
    # Never merged here: two customer records may be one person or a family's shared line.
    shared: dict[str, list[int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"phones examined: {self.examined}, converted to the stored form: {self.converted}"]
        for pk, phone, reason in self.unusable:
            out.append(f"customer {pk}: {phone!r} kept as it is: {reason}")
        for phone, ids in sorted(self.shared.items()):
            out.append(
                f"customers {', '.join(map(str, ids))} now share {phone} "
                "(kept apart; merge them by hand if they are one person)"
            )
        return out


def normalise_stored_phones(customer_model, *, apply: bool = True, chunk: int = 2000) -> StoredPhonesReport:
    """Convert every customer's stored phone to `parse_phone`'s form, so search and matching find
    numbers stored before the normaliser (`008613017598020`, full-width digits, `139-0000-1111`).

    Takes the model as an argument, so the data migration can pass its historical model. Numbers
    the normaliser refuses are kept as they were and reported; customers that end up with the
    same number are reported and kept apart. Idempotent: a stored form converts to itself.
    """
    report = StoredPhonesReport()
    changed: dict[int, str] = {}
    rows = customer_model.objects.exclude(phone="").order_by("pk").values_list("pk", "phone")
    for pk, phone in rows.iterator(chunk_size=chunk):
        report.examined += 1
        stored, reason = parse_phone(phone)
        if not stored:
            report.unusable.append((pk, phone, reason or PHONE_INVALID))
        elif stored != phone:
            changed[pk] = stored
    report.converted = len(changed)
    if apply:
        ids = sorted(changed)
        for start in range(0, len(ids), chunk):
            objs = [customer_model(pk=pk, phone=changed[pk]) for pk in ids[start : start + chunk]]
            customer_model.objects.bulk_update(objs, ["phone"])
    # Who shares a converted number now (or would, with apply=False): the others holding that form.
    forms = sorted(set(changed.values()))
    holders: dict[str, set[int]] = {}
    for start in range(0, len(forms), chunk):
        part = customer_model.objects.filter(phone__in=forms[start : start + chunk])
        for pk, phone in part.values_list("pk", "phone"):
            holders.setdefault(phone, set()).add(pk)
    for pk, form in changed.items():  # not yet stored under it when apply=False
        holders.setdefault(form, set()).add(pk)
    report.shared = {form: sorted(pks) for form, pks in holders.items() if len(pks) > 1}
    return report
