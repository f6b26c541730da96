"""The daily `PRAGMA optimize` job gives SQLite's planner the statistics the newest-first walk needs."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from kesu.trust.tasks import optimize_database

pytestmark = pytest.mark.django_db


def test_the_job_is_scheduled_daily():
    jobs = {job["name"]: job for job in settings.KESU_PERIODIC_JOBS}
    assert jobs["trust.optimize_database"]["enqueue"] == "kesu.trust.tasks.enqueue_optimize_database"


def test_the_job_optimizes_sqlite_and_leaves_postgresql_to_autovacuum(org):
    result = optimize_database.call()
    assert result == ("optimized" if connection.vendor == "sqlite" else "skipped")
