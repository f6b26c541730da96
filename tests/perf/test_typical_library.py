"""The typical-case library reads a constant number of queries however many entries it shows."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.utils import timezone

from kesu.cases.models import TypicalCase
from tests import factories
from tests.perf.test_query_counts import queries

pytestmark = pytest.mark.django_db


def test_library_queries_do_not_grow_with_its_entries(org):
    handler = Client()
    handler.force_login(org.handler)
    counts, seconds = {}, {}
    for size in (5, 25):
        while TypicalCase.objects.count() < size:
            case = factories.make_case(org.intake, customer={"name": "张三丰", "phone": "13800001111"})
            case.department = org.quality
            case.save(update_fields=["department"])
            TypicalCase.objects.create(
                case=case, lesson="先核实再答复", marked_by=org.supervisor, marked_at=timezone.now()
            )
        for path in ("/api/v1/cases/library/typical", "/typical-cases/"):
            counts[(size, path)] = queries(lambda p=path: handler.get(p, {"q": "核实"}))
        start = time.perf_counter()
        body = handler.get("/api/v1/cases/library/typical", {"q": "核实"}).json()
        seconds[size] = time.perf_counter() - start
        assert len(body) == size and "13800001111" not in str(body)
    print(f"library queries {counts}; API seconds {seconds}")
    for path in ("/api/v1/cases/library/typical", "/typical-cases/"):
        assert counts[(5, path)] == counts[(25, path)], counts
