"""Seed the national holiday schedule 2004–2026 from chinesecalendar (one bulk insert)."""

from django.db import migrations


def seed(apps, schema_editor):
    from kesu.calendar.seed import seed_from_chinesecalendar

    seed_from_chinesecalendar(apps.get_model("sla", "CalendarDay"), apps.get_model("sla", "CalendarYear"))


def unseed(apps, schema_editor):
    apps.get_model("sla", "CalendarDay").objects.filter(source="chinesecalendar").delete()
    apps.get_model("sla", "CalendarYear").objects.filter(source="chinesecalendar").delete()


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
