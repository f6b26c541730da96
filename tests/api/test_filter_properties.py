"""Property tests of the list filters (`GET /cases`, `GET /analytics/counts`): random strings, dates and
NULs never produce a 5xx; a value that cannot mean anything is refused with a 422 naming its field,
and filters made only of meaningful values are answered."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kesu.analytics.selectors import FLAGS
from kesu.cases.models import Kind, Level, Status

# Text a URL can carry (no lone surrogates) and that is not a NUL; the NUL is added on purpose below.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
GOOD_DATES = st.dates(dt.date(1971, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)
BAD_DATES = st.one_of(
    st.sampled_from(["2026-02-30", "2026-13-01", "2025-02-29", "0001-01-01", "9999-12-31", "1969-12-31"]),
    st.dates(dt.date(1, 1, 1), dt.date(1969, 12, 31)).map(dt.date.isoformat),
    TEXT.map(lambda t: "x" + t),
)
UNKNOWN = TEXT.map(lambda t: "bogus-" + t.replace(",", ""))

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def with_nul(draw, good):
    value = draw(good)
    at = draw(st.integers(0, len(value)))
    return value[:at] + "\x00" + value[at:]


@st.composite
def filter_params(draw, good: dict, bad: dict):
    """(query parameters, names of the parameters given a value that must be refused)."""
    names = draw(st.lists(st.sampled_from(sorted(good)), unique=True, min_size=1, max_size=4))
    params: dict[str, str] = {}
    refused: set[str] = set()
    for name in names:
        choice = draw(
            st.sampled_from(["good", "bad", "nul"]) if name in bad else st.sampled_from(["good", "nul"])
        )
        if choice == "good":
            params[name] = draw(good[name])
        elif choice == "bad":
            params[name] = draw(bad[name])
            refused.add(name)
        else:
            params[name] = draw(with_nul(good[name]))
            refused.add(name)
    return params, refused


def _check(response, params, refused):
    assert response.status_code < 500, (params, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), params
    if refused:
        assert response.status_code == 422, (params, response.status_code, response.content[:500])
        body = response.json()
        assert body["code"] == "validation_error"
        assert refused & set(body["details"]), (params, body)
    else:
        assert response.status_code == 200, (params, response.content[:500])


CASE_GOOD = {
    "status": st.sampled_from(Status.values),
    "level": st.sampled_from(Level.values),
    "kind": st.sampled_from(Kind.values),
    "channel": st.just("phone"),
    "category": st.just("product"),
    "received_from": GOOD_DATES,
    "received_to": GOOD_DATES,
    "text": TEXT.filter(lambda t: t.strip()),
}
CASE_BAD = {
    "status": UNKNOWN,
    "level": UNKNOWN,
    "kind": UNKNOWN,
    "channel": UNKNOWN,
    "category": UNKNOWN,
    "received_from": BAD_DATES,
    "received_to": BAD_DATES,
}


def test_case_list_filters_are_answered_or_refused_never_a_500(api, org):
    client = api(org.supervisor)

    @PROPERTY_SETTINGS
    @given(filter_params(CASE_GOOD, CASE_BAD))
    def run(drawn):
        params, refused = drawn
        _check(client.get("/cases", params), params, refused)

    run()


STAT_GOOD = {
    "date_from": GOOD_DATES,
    "date_to": GOOD_DATES,
    "status": st.sampled_from(Status.values),
    "level": st.sampled_from(Level.values),
    "kind": st.sampled_from(Kind.values),
    "flag": st.sampled_from(sorted(FLAGS)),
    "channel": st.just("phone"),
    "handler": st.integers(1, 10**6).map(str),
    "region": TEXT,
    "product": TEXT,
}
STAT_BAD = {
    "date_from": BAD_DATES,
    "date_to": BAD_DATES,
    "status": UNKNOWN,
    "level": UNKNOWN,
    "kind": UNKNOWN,
    "flag": UNKNOWN,
    "channel": UNKNOWN,
    "handler": UNKNOWN,
}


def test_analytics_filters_are_answered_or_refused_never_a_500(api, org):
    client = api(org.supervisor)

    @PROPERTY_SETTINGS
    @given(filter_params(STAT_GOOD, STAT_BAD))
    def run(drawn):
        params, refused = drawn
        _check(client.get("/analytics/counts", params), params, refused)

    run()
