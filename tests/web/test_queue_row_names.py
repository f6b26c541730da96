"""The names on a queue's rows (category, channel, department, handler) are kept per process under the
taxonomy's and the organisation's stamps (kesu.web.selectors.attach_row_relations): a rename shows on
the next page, whichever process made it."""

from __future__ import annotations

import pytest
from django.test import Client

from kesu.cases import selectors as case_selectors
from kesu.org.models import ApiToken
from kesu.policy.models import Category, Channel
from kesu.web import selectors as web_selectors
from tests import factories
from tests.web.test_desk_speed import investigating

pytestmark = pytest.mark.django_db

MINE = "/queues/mine/"


def _page(client) -> str:
    r = client.get(MINE)
    assert r.status_code == 200
    return r.content.decode()


def _row(client, case) -> str:
    """The case's row of the queue (the top bar and the filters name the user, departments, categories
    and channels too)."""
    page = _page(client)
    start = page.index(f'<tr data-case="{case.number}">')
    return page[start : page.index("</tr>", start)]


@pytest.fixture
def mine(client, org):
    case, _walk = investigating(org)
    case.refresh_from_db()
    client.force_login(org.handler)
    page = _page(client)  # fills the cache
    assert case.number in page
    return case


def test_a_renamed_handler_shows_on_the_next_queue_page(client, org, mine):
    assert "改名后的处理人" not in _row(client, mine)
    org.handler.first_name = "改名后的处理人"
    org.handler.save()
    assert "改名后的处理人" in _row(client, mine)


def test_a_renamed_department_shows_on_the_next_queue_page(client, org, mine):
    dept = mine.department
    dept.name = "改名后的部门"
    dept.save()
    assert "改名后的部门" in _row(client, mine)


def test_a_renamed_category_and_channel_show_on_the_next_queue_page(client, org, mine):
    category = Category.objects.get(pk=mine.category_id)
    category.name = "改名后的分类"
    category.save()
    channel = Channel.objects.get(pk=mine.channel_id)
    channel.name = "改名后的渠道"
    channel.save()
    row = _row(client, mine)
    assert "改名后的分类" in row and "改名后的渠道" in row


def test_an_inactive_category_is_still_named(client, org, mine):
    Category.objects.filter(pk=mine.category_id).update(is_active=False, name="停用的分类")
    web_selectors.clear_row_cache()  # QuerySet.update sends no signal: a fresh process
    assert "停用的分类" in _row(client, mine)


def test_rows_without_a_stamp_are_named_all_the_same(org):
    """No stamp row (a flushed database): nothing to key the cache on, the names are read for the page."""
    case = factories.make_case(org.intake)
    web_selectors.clear_row_cache()
    rows = web_selectors.attach_row_relations(
        list(web_selectors.queue_row_columns(web_selectors.queue_cases(org.supervisor, "all").cases)),
        None,
        None,
    )
    row = next(r for r in rows if r.pk == case.pk)
    assert row.category.name == case.category.name and row.channel.name == case.channel.name
    assert case_selectors._row_cache == {}


def test_the_api_case_list_shows_a_changed_code_and_name(org, mine):
    """The API's case list shares the cache: a department's new code and a handler's new name show."""
    _token, key = ApiToken.issue(org.supervisor, "names", scopes=["*"])
    api = Client()

    def item() -> dict:
        r = api.get("/api/v1/cases?limit=50", HTTP_AUTHORIZATION=f"Bearer {key}")
        return next(i for i in r.json()["items"] if i["number"] == mine.number)

    assert item()["department"] == mine.department.code  # fills the cache
    dept = mine.department
    dept.code = "RENAMED"
    dept.save()
    org.handler.first_name = "改名后的处理人"
    org.handler.save()
    got = item()
    assert got["department"] == "RENAMED" and got["handler"]["name"].startswith("改名后的处理人")
