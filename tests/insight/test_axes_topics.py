"""JR/T 0169-2018 axes in the triage suggestion, and weekly emerging topics."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from kesu.insight import services, tasks
from kesu.insight import topics as tp
from kesu.insight.models import TopicRun
from kesu.org.models import ApiToken
from tests import factories

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.django_db
def test_a_financial_policy_gets_channel_business_type_and_cause_proposals():
    factories.org("insurance", layers=["nfra"])
    s = services.suggest("信用卡年费莫名其妙被扣，已打12378投诉", channel="phone")
    axes = s.axes
    assert axes["channel"]["code"] == "12378" and axes["channel"]["source"] == "text"
    assert (
        axes["business_type"]["code"] == "bank.credit_card" and "信用卡" in axes["business_type"]["matched"]
    )
    assert axes["cause"]["code"] == "cause.pricing"
    quiet = services.suggest("催收天天打电话骚扰我的家人", channel="phone").axes
    assert quiet["channel"] == {
        "code": "phone",
        "name": quiet["channel"]["name"],
        "confidence": 1.0,
        "source": "given",
        "matched": [],
    }
    assert quiet["cause"]["code"] == "cause.collection" and quiet["business_type"]["code"] is None
    assert "axes" in s.as_dict()


def test_a_non_financial_policy_has_no_axes(org):
    assert services.suggest("快递迟迟没到").axes is None


def _doc(i, text, cat="物流延误", dept="物流部"):
    return tp.Doc(f"C{i}", text, cat, dept)


BACKGROUND = ["快递迟迟没到，物流停滞", "包裹延误一周还没送到", "配送超时订单发货太慢", "物流显示停滞五天"]


def test_a_new_theme_inside_an_old_category_is_an_emerging_topic():
    rng = random.Random(1)
    reference = [_doc(i, rng.choice(BACKGROUND) + f"，单号{i}") for i in range(80)]
    recent = [_doc(100 + i, rng.choice(BACKGROUND) + f"，单号{i}") for i in range(10)]
    # Seven complaints this week about something never seen before, filed under the same category.
    new = [
        "快递员冒充客服索要验证码，骗走了钱",
        "快递员冒充客服要验证码后盗刷",
        "冒充快递客服索要验证码转账被骗",
    ]
    recent += [_doc(200 + i, new[i % 3], dept=("物流部", "客户服务部")[i % 2]) for i in range(7)]
    found = tp.emerging_topics(recent, reference, reference_weeks=8, min_size=3)
    assert len(found) == 1
    topic = found[0]
    assert set(topic.keys) == {f"C{200 + i}" for i in range(7)}
    assert topic.size == 7 and topic.growth >= 7 and topic.previous_weekly == 0
    assert topic.category_fit < topic.category_typical
    assert topic.departments == {"物流部": 4, "客户服务部": 3}
    assert len(topic.examples) == 3 and any("验证码" in t for t in topic.terms)
    # The usual complaints at their usual rate: no topic.
    assert tp.emerging_topics(recent[:10], reference, reference_weeks=8) == []
    # The new theme filed under a category whose earlier complaints were all like it is explained by it.
    old_news = [_doc(300 + i, new[i % 3]) for i in range(80)]
    assert tp.emerging_topics(recent[10:], old_news, reference_weeks=8) == []


def test_the_weekly_run_is_stored_once_per_week_and_served_to_oversight(org):
    week_end = dt.date(2026, 3, 1)
    for i in range(6):
        day = week_end - dt.timedelta(days=i % 7)
        factories.make_case(
            org.intake,
            description=("冒充客服索要验证码", "快递员要验证码后盗刷")[i % 2] + f"第{i}次",
            received_at=dt.datetime.combine(day, dt.time(10), tzinfo=SH).isoformat(),
        )
    run = services.run_topic_detection(week_end)
    assert run.week_start == dt.date(2026, 2, 23) and run.n_recent == 6
    assert run.topics and run.topics[0]["size"] >= 3
    services.run_topic_detection(week_end)
    assert TopicRun.objects.count() == 1
    key = ApiToken.issue(org.analyst, "t", scopes=["*"])[1]
    body = Client().get("/api/v1/insight/topics", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["available"] and body["week_end"] == "2026-03-01" and body["topics"] == run.topics


@pytest.mark.django_db
def test_the_topic_job_is_enqueued_on_mondays_only():
    monday = dt.datetime(2026, 3, 2, 6, 20, tzinfo=SH)
    assert tasks.enqueue_weekly_topics(monday - dt.timedelta(days=1)) is None
    assert tasks.enqueue_weekly_topics(monday) is not None
