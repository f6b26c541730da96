"""Categories, channels and departments in the reader's language (kesu.org.i18n): the English name in
the English UI where one is given, the Chinese name otherwise; every built-in preset gives one."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.template import Context, Template
from django.test import Client
from django.utils import translation

from kesu.calendar.workcalendar import duration_text
from kesu.org.i18n import display_name, local_names, localized, row_name
from kesu.org.models import Department
from kesu.org.services import ensure_policy_departments
from kesu.policy.loader import available_presets, read_preset, resolve_preset
from kesu.policy.models import Category, Channel
from kesu.policy.selectors import category_choices
from kesu.policy.services import load_preset

pytestmark = pytest.mark.django_db


def test_the_helper_says_the_english_name_in_english_and_falls_back_to_chinese():
    named = Department(code="A", name="理赔部", name_en="Claims")
    unnamed = Department(code="B", name="运营部")
    with translation.override("en"):
        assert display_name(named) == "Claims" and str(named) == "Claims"
        assert display_name(unnamed) == "运营部"  # no English name: the Chinese one, not a blank
        assert localized("理赔部", "") == "理赔部" and display_name(None) == ""
        assert (
            row_name({"department__name": "理赔部", "department__name_en": "Claims"}, "department")
            == "Claims"
        )
    with translation.override("zh-hans"):
        assert display_name(named) == "理赔部" and str(named) == "理赔部"
        assert (
            row_name({"department__name": "理赔部", "department__name_en": "Claims"}, "department")
            == "理赔部"
        )


def test_the_template_filter_and_the_choice_lists(org):
    category = Category.objects.get(code="delivery")
    template = Template('{% load kesu_names %}{{ c|local_name }}|{{ row|local_row_name:"category" }}')
    context = Context({"c": category, "row": {"category__name": category.name, "category__name_en": "X"}})
    with translation.override("en"):
        assert template.render(context) == "Delivery and shipping|X"
        assert local_names(Channel.objects.filter(code="phone")) == {"phone": "Phone"}
        assert ("delivery", "Delivery and shipping", 0) in category_choices()
    with translation.override("zh-hans"):
        assert template.render(context) == "交付运输|交付运输"
        assert ("delivery", "交付运输", 0) in category_choices()


@pytest.mark.parametrize("preset", available_presets())
def test_every_built_in_category_channel_and_unit_has_an_english_name(preset):
    document = read_preset(preset)
    for table in ("categories", "channels", "org_units"):
        for entry in document.get(table, []):
            assert entry.get("name_en"), (preset, table, entry["code"])


def test_loading_a_preset_stores_the_english_names_and_keeps_an_administrators(org):
    assert Channel.objects.get(code="phone").name_en == "Phone"
    assert Category.objects.get(code="billing.refund").name_en == "Refunds"
    # an English name typed in the admin for a row the policy gives none stays on reload
    Category.objects.filter(code="billing.refund").update(name_en="Refund issues")
    load_preset("general")
    assert Category.objects.get(code="billing.refund").name_en == "Refunds"  # the policy gives one
    Channel.objects.create(code="own", name="自有渠道", name_en="Own channel")
    load_preset("general")
    assert Channel.objects.get(code="own").name_en == "Own channel"


def test_policy_departments_get_their_english_names(org):
    document = resolve_preset("hotel")
    created = {d.code: d for d in ensure_policy_departments(document)}
    assert created["HOUSEKEEPING"].name_en == "Housekeeping"
    # an existing department of the policy's Chinese name without an English name gets it
    Department.objects.filter(code="SERVICE").update(name="客户服务部", name_en="")
    ensure_policy_departments(resolve_preset("general"))
    assert Department.objects.get(code="SERVICE").name_en == "Customer Service"


def test_the_migration_fills_english_names_of_existing_rows(org):
    migration = importlib.import_module("kesu.policy.migrations.0002_english_names")
    Category.objects.filter(code="delivery").update(name_en="")
    Channel.objects.filter(code="phone").update(name_en="")
    renamed = Category.objects.get(code="billing")
    Category.objects.filter(pk=renamed.pk).update(name="收费问题", name_en="")  # renamed by the installation
    Department.objects.filter(code="FINANCE").update(name="财务部", name_en="")
    migration.fill_english_names(django_apps, None)
    assert Category.objects.get(code="delivery").name_en == "Delivery and shipping"
    assert Channel.objects.get(code="phone").name_en == "Phone"
    assert Department.objects.get(code="FINANCE").name_en == "Finance"
    assert Category.objects.get(code="billing").name_en == ""  # its own words: no English name guessed


def test_durations_have_the_plural_the_language_needs():
    with translation.override("en"):
        assert duration_text(1, "working_days") == "1 working day"
        assert duration_text(3, "working_days") == "3 working days"
        assert duration_text("2", "calendar_hours") == "2 hours"
    with translation.override("zh-hans"):
        assert duration_text(1, "working_days") == "1 个工作日"
        assert duration_text(1, "same_day") == "当日"


def test_the_api_gives_both_names(org):
    api = Client()
    api.force_login(org.supervisor)
    categories = {c["code"]: c for c in api.get("/api/v1/policy/categories").json()}
    assert (
        categories["delivery"]["name"] == "交付运输"
        and categories["delivery"]["name_en"] == "Delivery and shipping"
    )
    channels = {c["code"]: c for c in api.get("/api/v1/policy/channels").json()}
    assert channels["phone"]["name_en"] == "Phone"
    Department.objects.filter(code="CLAIMS").update(name_en="Claims")
    departments = {d["code"]: d for d in api.get("/api/v1/org/departments").json()}
    assert departments["CLAIMS"]["name_en"] == "Claims"
