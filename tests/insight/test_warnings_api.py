"""Surge warnings and forecasts from the case table, the API and the `kesu insight` command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

from django.core.management import call_command
from django.test import Client

from kesu.insight import services
from kesu.insight.models import SurgeWarning
from kesu.org.models import ApiToken
from tests import factories
from tests.insight.synth import labelled

SH = ZoneInfo("Asia/Shanghai")


def _at(day: dt.date, hour: int = 10) -> str:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH).isoformat()


def test_a_surge_in_one_category_is_stored_and_delivered(org):
    day = dt.date.today() - dt.timedelta(days=1)
    for k in range(1, 29):  # a quiet month: one billing complaint a day
        factories.make_case(
            org.intake,
            category="billing.wrong",
            description="多收费",
            received_at=_at(day - dt.timedelta(days=k)),
        )
    for i in range(12):
        factories.make_case(
            org.intake, category="billing.wrong", description=f"重复扣费{i}", received_at=_at(day, 9 + i % 10)
        )
    warnings = services.run_surge_checks(day, baseline_days=28)
    cat = [w for w in warnings if w.dimension == "category"]
    assert len(cat) == 1
    w = cat[0]
    assert w.observed == 12 and w.expected < 3 and w.upper <= 12
    assert len(w.sample_case_ids) == 5 and "错误收费" in w.message
    # Idempotent: the same day checked twice stores one warning per series.
    services.run_surge_checks(day, baseline_days=28)
    assert SurgeWarning.objects.filter(dimension="category").count() == 1
    # The supervisors' inbox got it (when the deadline engineer's inbox exists).
    try:
        from kesu.sla.models import Notification
    except ImportError:
        return
    assert Notification.objects.filter(user=org.supervisor, kind="insight_warning").exists()


def test_a_quiet_day_raises_no_warning(org):
    day = dt.date.today() - dt.timedelta(days=1)
    for k in range(0, 29):
        factories.make_case(
            org.intake,
            category="billing.wrong",
            description="多收费",
            received_at=_at(day - dt.timedelta(days=k)),
        )
    assert services.run_surge_checks(day, baseline_days=28) == []


def _client(user) -> tuple[Client, dict[str, str]]:
    _token, key = ApiToken.issue(user, f"insight-{user.username}")
    return Client(), {"Authorization": f"Bearer {key}"}


def test_api_suggest_and_model_card(org):
    client, headers = _client(org.intake)
    r = client.post(
        "/api/v1/insight/suggest",
        data=json.dumps({"text": "快递迟迟没到，延误一周"}),
        content_type="application/json",
        headers=headers,
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["category_code"] == "delivery.delay" and body["source"] == "keywords" and body["sure"]
    # The model card is for supervisors/administrators, not for intake staff.
    assert client.get("/api/v1/insight/model", headers=headers).status_code == 403
    admin_client, admin_headers = _client(org.admin)
    card = admin_client.get("/api/v1/insight/model", headers=admin_headers)
    assert card.status_code == 200 and card.json()["source"] == "keywords"


def test_api_related_for_intake(org):
    old = factories.make_case(org.intake, customer={"name": "赵六", "phone": "13622223333"})
    client, headers = _client(org.intake)
    r = client.post(
        "/api/v1/insight/related",
        data=json.dumps({"text": "再次投诉", "customer": {"phone": "13622223333"}}),
        content_type="application/json",
        headers=headers,
    )
    assert r.status_code == 200
    assert [x["number"] for x in r.json()] == [old.number]


def _write_csv(path, texts, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))


def test_evaluate_command_on_csv_files(tmp_path):
    _write_csv(tmp_path / "train.csv", *labelled(30, seed=1))
    _write_csv(tmp_path / "test.csv", *labelled(10, seed=2))
    out = io.StringIO()
    call_command(
        "insight",
        "evaluate",
        "--train",
        str(tmp_path / "train.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    for key in ("accuracy", "macro_f1", "n_train", "n_test", "seconds_train", "texts_per_second"):
        assert key in result and key in result["baseline"]
    assert result["n_train"] == 90 and result["n_test"] == 30
    assert result["accuracy"] > result["majority"]["accuracy"] + 0.4


def test_backtest_command_on_a_series_csv(tmp_path):
    import numpy as np

    rng = np.random.default_rng(1)
    start = dt.date(2024, 1, 1)
    prof = [1.3, 1.2, 1.0, 1.0, 1.1, 0.6, 0.5]
    with open(tmp_path / "s.csv", "w", encoding="utf-8") as f:
        f.write("date,count\n")
        for i in range(200):
            d = start + dt.timedelta(days=i)
            f.write(f"{d.isoformat()},{rng.poisson(50 * prof[d.weekday()])}\n")
    out = io.StringIO()
    call_command(
        "insight",
        "backtest",
        str(tmp_path / "s.csv"),
        "--horizon",
        "7",
        "--origins",
        "8",
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    assert result["model"] == "regression_ets" and "profile_ets" in result["alternatives"]
    assert {"mase", "wape", "coverage_80"} <= set(result)
    assert set(result["baselines"]) == {"seasonal_naive", "moving_average_28"}
    assert result["mase"] < result["baselines"]["moving_average_28"]["mase"]


def test_forecast_from_cases(org):
    day = dt.date.today() - dt.timedelta(days=1)
    for k in range(80):
        d = day - dt.timedelta(days=k)
        for _ in range(2 if d.weekday() < 5 else 1):
            factories.make_case(org.intake, description="常规投诉", received_at=_at(d))
    run = services.make_forecast(horizon=30, top=2)
    assert run is not None and run.origin == day
    total = next(s for s in run.series if s["key"] == "total")
    assert len(total["points"]) == 30 and set(total["sums"]) == {"2", "7", "30"}
    assert 20 < total["sums"]["30"] < 80


def test_categories_and_branches_with_enough_history_get_their_own_series(org):
    from kesu.cases.models import Case

    day = dt.date.today() - dt.timedelta(days=1)
    cases = [
        factories.make_case(org.intake, description="常规投诉", received_at=_at(day - dt.timedelta(days=k)))
        for k in range(36)
    ]
    Case.objects.filter(pk__in=[c.pk for c in cases[:32]]).update(branch=org.east)
    Case.objects.filter(pk__in=[c.pk for c in cases[32:]]).update(branch=org.hq)
    days, series = services.daily_series(60, top=5, min_recent=30)
    category = cases[0].category
    assert set(series) == {"total", f"category:{category.pk}", f"branch:{org.east.pk}"}
    label, y = series[f"branch:{org.east.pk}"]
    assert label == org.east.name and y.sum() == 32 and len(y) == len(days) == 36
    # With a lower bar the small branch gets a series too.
    assert f"branch:{org.hq.pk}" in services.daily_series(60, min_recent=4)[1]
