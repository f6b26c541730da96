"""Phones stored before the one normaliser: migration cases 0014 (and `kesu normalize_phones`)
converts them, merges nothing, reports what it cannot convert and who now shares a number, and
changes nothing the second time."""

from __future__ import annotations

import importlib
import io
import logging

from django.apps import apps
from django.core.management import call_command

from kesu.cases.models import Customer
from kesu.cases.phones import PHONE_INVALID, PHONE_SCIENTIFIC, normalise_stored_phones

migration = importlib.import_module("kesu.cases.migrations.0017_normalise_customer_phones")

OLD_FORMS = {
    "prefix": ("008613017598020", "13017598020"),  # what the old importer stored for 0086 …
    "full_width": ("１３８１２３４５６７８", "13812345678"),
    "separators": ("+86 139-0000-1111", "13900001111"),
    "landline": ("010-6234 5678", "01062345678"),
    "already": ("13700001111", "13700001111"),
    "scientific": ("1.38123E+10", "1.38123E+10"),  # the digits are lost: kept, reported
    "short": ("1381234567", "1381234567"),  # a mobile one digit short: kept, reported
    "twin_a": ("+86 13500001111", "13500001111"),  # two customers collapsing onto one number
    "twin_b": ("135-0000-1111", "13500001111"),
    "known": ("13600001111", "13600001111"),  # a stored number another customer collapses onto
    "known_alias": ("0086 136 0000 1111", "13600001111"),
}


def old_customers() -> dict[str, Customer]:
    # bulk_create: the rows as an earlier Kesu stored them, past today's normaliser
    made = Customer.objects.bulk_create(
        [Customer(name=key, phone=old) for key, (old, _new) in OLD_FORMS.items()]
    )
    return {c.name: c for c in made}


def phones() -> dict[str, str]:
    return dict(Customer.objects.values_list("name", "phone"))


def test_the_migration_converts_old_forms_reports_and_merges_nothing(db, caplog):
    made = old_customers()
    with caplog.at_level(logging.WARNING, logger="kesu.cases"):
        migration.forward(apps, None)
    assert phones() == {key: new for key, (_old, new) in OLD_FORMS.items()}
    assert Customer.objects.count() == len(OLD_FORMS)  # nobody merged
    log = caplog.text
    assert "converted to the stored form: 7" in log
    assert f"customer {made['scientific'].pk}: '1.38123E+10' kept as it is: {PHONE_SCIENTIFIC}" in log
    assert f"customer {made['short'].pk}: '1381234567' kept as it is: {PHONE_INVALID}" in log
    assert f"customers {made['twin_a'].pk}, {made['twin_b'].pk} now share 13500001111" in log
    assert f"customers {made['known'].pk}, {made['known_alias'].pk} now share 13600001111" in log

    # idempotent: the second run changes nothing and finds nothing new to share
    before = phones()
    report = normalise_stored_phones(Customer)
    assert phones() == before
    assert report.converted == 0 and report.shared == {}
    assert {pk for pk, _phone, _reason in report.unusable} == {made["scientific"].pk, made["short"].pk}


def test_the_command_lists_without_changing_on_a_dry_run(db):
    made = old_customers()
    out = io.StringIO()
    call_command("normalize_phones", "--dry-run", stdout=out)
    text = out.getvalue()
    assert phones() == {key: old for key, (old, _new) in OLD_FORMS.items()}
    assert "converted to the stored form: 7" in text and "dry run: nothing changed" in text
    assert f"customers {made['twin_a'].pk}, {made['twin_b'].pk} now share 13500001111" in text
    call_command("normalize_phones", stdout=io.StringIO())
    assert phones() == {key: new for key, (_old, new) in OLD_FORMS.items()}
