"""What every staff page pays for its shared layout (web/base.html): the top bar's unread count is one
COUNT, the sidebar is rendered once per process per role set, language and highlighted entry
(kesu.web.nav.render_for), and neither grows with the number of notifications or cases.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone

from kesu.org import roles as R
from kesu.sla.models import Notification
from kesu.sla.selectors import unread_count
from kesu.web import nav
from tests.perf.test_query_counts import Counted, queries

pytestmark = pytest.mark.django_db

PAGES = ("/", "/queues/mine/")


def _notifications(user, n: int, **kw) -> None:
    now = timezone.now()
    start = Notification.objects.filter(user=user).count()
    Notification.objects.bulk_create(
        Notification(
            user=user,
            kind="test",
            title=f"提醒{i}",
            created_at=now - dt.timedelta(minutes=i),
            dedupe_key=f"layout:{user.pk}:{i}:{sorted(kw.items())}",
            **kw,
        )
        for i in range(start, start + n)
    )


def _session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _badge(html: str) -> str | None:
    m = re.search(r'id="inbox-link"[^>]*>[^<]*<span class="count-badge"[^>]*>([^<]+)</span>', html)
    return m.group(1) if m else None


@pytest.mark.parametrize("path", PAGES)
def test_the_layout_costs_the_same_with_few_or_many_notifications(org, path):
    client = _session(org.handler)

    def get():
        r = client.get(path)
        assert r.status_code == 200

    counts = {}
    for n in (3, 150):
        _notifications(org.handler, n - Notification.objects.filter(user=org.handler).count())
        counts[n] = queries(get)
    assert counts[3] == counts[150], counts
    # Of those, one statement reads the notifications: the badge's COUNT.
    counted = Counted()
    with connection.execute_wrapper(counted):
        html = client.get(path).content.decode()
    on_notifications = [s for s in counted.sql if "sla_notification" in s]
    assert len(on_notifications) == 1 and "COUNT(" in on_notifications[0].upper(), on_notifications
    assert _badge(html) == "99+"


def test_the_sidebar_is_rendered_once_per_process_not_per_page(org):
    client = _session(org.supervisor)
    client.get("/")  # the first page of this role set renders it
    for path in ("/", "/queues/mine/"):
        client.get(path)  # each page's own highlight, once
    again = client.get("/queues/mine/")
    assert "web/_nav.html" not in [t.name for t in again.templates]
    # The same entries and highlight as rendered.
    html = again.content.decode()
    assert re.search(r'<a href="/queues/mine/" class="active" aria-current="page">', html)
    assert '<a href="/" class="">' in html


def test_the_sidebar_follows_the_roles_the_language_and_the_page(org):
    client = _session(org.handler)
    home = client.get("/").content.decode()
    assert "/admin/" not in home.split('<nav class="sidebar"')[1].split("</nav>")[0]
    # A role given between two pages changes the entries (the roles are part of the key).
    org.handler.groups.add(Group.objects.get_or_create(name=R.ADMIN)[0])
    sidebar = client.get("/").content.decode().split('<nav class="sidebar"')[1].split("</nav>")[0]
    assert 'href="/admin/"' in sidebar
    # The language is part of the key: the same roles in English read English.
    client.cookies["django_language"] = "en"
    english = client.get("/").content.decode().split('<nav class="sidebar"')[1].split("</nav>")[0]
    assert "工作台" not in english and "Workbench" in english
    # The highlighted entry is the page's: home is not highlighted on the queue.
    queue = client.get("/queues/mine/").content.decode()
    assert '<a href="/" class="">' in queue
    assert '<a href="/queues/mine/" class="active" aria-current="page">' in queue


def test_registering_an_entry_is_seen_by_the_next_page(org):
    client = _session(org.handler)
    client.get("/")
    nav.register_nav_item("layout_probe", "探针入口", "web:inbox", section="more", order=999)
    try:
        assert "探针入口" in client.get("/").content.decode()
    finally:
        nav._ITEMS.pop("layout_probe")
        nav._rendered.clear()
        nav._paths.clear()
    assert "探针入口" not in client.get("/").content.decode()


def test_the_unread_count_counts_only_the_unread_inbox_entries_of_the_user(org):
    _notifications(org.handler, 4)
    _notifications(org.handler, 2, read_at=timezone.now())
    _notifications(org.handler, 3, held_for_digest=True)
    _notifications(org.handler2, 5)
    assert (
        unread_count(org.handler)
        == 4
        == Notification.objects.filter(user=org.handler, read_at=None, held_for_digest=False).count()
    )
    assert unread_count(org.handler2) == 5
    assert _badge(_session(org.handler).get("/").content.decode()) == "4"
