"""The customers' phones stored before the one normaliser (kesu.cases.phones) in its form, so search,
customer matching and repeat detection find them. Numbers it cannot convert are kept as they were;
customers that end up sharing a number are kept apart. Both are logged (and `kesu normalize_phones
--dry-run` lists them again). Idempotent; nothing to undo (the old forms meant the same numbers)."""

import logging

from django.db import migrations

from kesu.cases.phones import normalise_stored_phones

log = logging.getLogger("kesu.cases")


def forward(apps, schema_editor):
    report = normalise_stored_phones(apps.get_model("cases", "Customer"))
    if report.converted or report.unusable or report.shared:
        for line in report.lines():
            log.warning("normalise phones: %s", line)


class Migration(migrations.Migration):
    dependencies = [("cases", "0016_case_customer_due_at")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=True)]
