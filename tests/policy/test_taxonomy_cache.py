"""The categories and channels are cached per process behind the taxonomy stamp's token, which every
writer changes and every process checks (issue 19: registration and accept read no taxonomy rows)."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from kesu.insight import services as insight
from kesu.policy.models import Category, Channel, TaxonomyStamp
from kesu.policy.selectors import active_policy_and_taxonomy, category_by_code, channel_by_code
from kesu.policy.services import activate_document, load_preset
from tests.sql import statements

pytestmark = pytest.mark.django_db


def test_a_warm_taxonomy_costs_one_small_read():
    load_preset("general")
    active_policy_and_taxonomy()
    sql = statements(lambda: (category_by_code("service.attitude"), channel_by_code("phone")))
    assert len(sql) == 2 and all("policy_taxonomystamp" in s and "policy_category" not in s for s in sql), sql
    sql = statements(active_policy_and_taxonomy)
    assert len(sql) == 1 and "policy_taxonomystamp" in sql[0] and "policy_policy" in sql[0], sql


def test_row_writes_and_the_admin_are_seen():
    load_preset("general")
    assert channel_by_code("fax") is None
    Channel.objects.create(code="fax", name="传真")  # post_save changes the token
    assert channel_by_code("fax") is not None
    category = Category.objects.get(code="service.attitude")
    category.name = "服务态度差"
    category.save()
    assert category_by_code("service.attitude").name == "服务态度差"
    assert insight._categories()["service.attitude"].name == "服务态度差"


def test_the_admin_edit_is_seen():
    load_preset("general")
    category_by_code("service.attitude")
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    category = Category.objects.get(code="service.attitude")
    r = client.post(
        f"/admin/policy/category/{category.pk}/change/",
        {
            "code": category.code,
            "name": "态度问题",
            "name_en": "",
            "parent": category.parent_id or "",
            "path": category.path,
            "depth": category.depth,
            "department_code": category.department_code,
            "keywords": "[]",
            "is_active": "on",
        },
    )
    assert r.status_code == 302, r.content[:500]
    assert category_by_code("service.attitude").name == "态度问题"


def test_a_policy_activation_deactivating_rows_is_seen():
    """`activate_document` deactivates what the new document lacks with QuerySet.update (no post_save)."""
    first = load_preset("general")
    document = copy.deepcopy(first.document)
    gone = next(c["code"] for c in document["categories"] if c["code"] == "service.attitude")
    document["categories"] = [c for c in document["categories"] if c["code"] != gone]
    document["channels"] = [c for c in document["channels"] if c["code"] != "phone"]
    assert category_by_code(gone) is not None and channel_by_code("phone") is not None
    activate_document(document)
    assert category_by_code(gone) is None and channel_by_code("phone") is None
    assert gone not in insight._categories()


def test_a_write_by_another_process_is_seen_at_once():
    """Another process renames a category and changes the token: this process's caches are not told."""
    load_preset("general")
    assert category_by_code("service.attitude").name != "另一进程改名"
    insight._categories()
    table = connection.ops.quote_name(Category._meta.db_table)
    stamp = connection.ops.quote_name(TaxonomyStamp._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET name = %s WHERE code = %s", ["另一进程改名", "service.attitude"])
        cursor.execute(f"UPDATE {stamp} SET token = token + 1 WHERE id = 1")
    assert category_by_code("service.attitude").name == "另一进程改名"
    assert active_policy_and_taxonomy()[1].categories["service.attitude"].name == "另一进程改名"
    assert insight._categories()["service.attitude"].name == "另一进程改名"
