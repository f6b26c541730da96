# Categories, channels and departments get an optional English name (kesu.org.i18n.display_name).
# Rows an installation already has take the built-in presets' English name where their code and Chinese
# name are the preset's (a renamed row keeps its own words and no English name until one is given).

import tomllib

from django.db import migrations, models

from kesu.policy.loader import PRESET_DIR

TABLES = {"channels": "Channel", "categories": "Category"}


def _preset_names() -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {"channels": {}, "categories": {}, "org_units": {}}
    for path in sorted(PRESET_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            document = tomllib.load(fh)
        for table, names in out.items():
            for entry in document.get(table, []):
                if isinstance(entry, dict) and entry.get("name_en"):
                    names.setdefault((entry["code"], entry["name"]), entry["name_en"])
    return out


def fill_english_names(apps, schema_editor):
    names = _preset_names()
    models_by_table = {table: apps.get_model("policy", model) for table, model in TABLES.items()}
    models_by_table["org_units"] = apps.get_model("org", "Department")
    for table, model in models_by_table.items():
        for (code, name), name_en in names[table].items():
            model.objects.filter(code=code, name=name, name_en="").update(name_en=name_en)


class Migration(migrations.Migration):

    dependencies = [
        ('policy', '0001_initial'),
        ('org', '0004_department_name_en'),
    ]

    operations = [
        migrations.AddField(
            model_name='category',
            name='name_en',
            field=models.CharField(blank=True, max_length=100, verbose_name='英文名称'),
        ),
        migrations.AddField(
            model_name='channel',
            name='name_en',
            field=models.CharField(blank=True, max_length=60, verbose_name='英文名称'),
        ),
        migrations.RunPython(fill_english_names, migrations.RunPython.noop),
    ]
