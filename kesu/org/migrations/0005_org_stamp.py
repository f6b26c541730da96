# The organisation's change stamp (kesu.org.models.OrgStamp), with its one row.

import secrets

from django.db import migrations, models


def create_row(apps, schema_editor):
    apps.get_model("org", "OrgStamp").objects.update_or_create(pk=1, defaults={"token": secrets.randbits(62)})


class Migration(migrations.Migration):
    dependencies = [("org", "0004_department_name_en")]

    operations = [
        migrations.CreateModel(
            name="OrgStamp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_row, migrations.RunPython.noop),
    ]
