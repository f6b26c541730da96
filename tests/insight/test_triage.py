"""Triage suggestions from the organisation's own cases: cold start, training, replacement, feedback."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kesu.cases.models import Case
from kesu.insight import services
from kesu.insight.models import TriageFeedback, TriageModel
from tests import factories
from tests.insight.synth import PHRASES, text_for


def _closed_cases(org, n_per_class: int, *, seed: int = 0, start_days_ago: int = 200):
    """Register cases through the real service, oldest first, and mark them closed (test data only)."""
    rng = random.Random(seed)
    now = timezone.now()
    labels = list(PHRASES)
    total = n_per_class * len(labels)
    cases = []
    for i in range(total):
        label = labels[i % len(labels)]
        received = now - dt.timedelta(days=start_days_ago) + dt.timedelta(hours=i * 3)
        cases.append(
            factories.make_case(
                org.intake, category=label, description=text_for(label, rng), received_at=received.isoformat()
            )
        )
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(status="closed", closed_at=now)
    return cases


def test_cold_start_uses_the_policy_keywords(org):
    s = services.suggest("快递迟迟没到，物流延误了一周")
    assert s.source == "keywords" and s.sure
    assert s.category_code == "delivery.delay"
    assert s.department_code == "LOGISTICS"
    unsure = services.suggest("你好，我想问一下")
    assert not unsure.sure and unsure.category_code is None and unsure.label == "不确定"


def test_too_few_cases_keep_the_keyword_rules(org):
    _closed_cases(org, 3)
    result = services.train(min_cases=200)
    assert result.status == "cold_start"
    assert not TriageModel.objects.exists()
    assert services.suggest("包裹延误一周").source == "keywords"


def test_training_activates_a_model_with_a_card_and_a_time_ordered_split(org):
    _closed_cases(org, 20)
    result = services.train(min_cases=30)
    assert result.status == "activated"
    model = TriageModel.objects.get(is_active=True)
    assert model.n_train == 48 and model.n_validation == 12
    split = model.metrics["split"]
    assert split["train_until"] < split["validation_from"]
    assert model.metrics["macro_f1"] >= 0.8
    assert set(model.metrics["per_class"]) >= set(PHRASES)
    assert len(model.metrics["confusion"]) >= 3

    s = services.suggest("客服态度恶劣，经理说话很难听，希望给个说法", channel="phone")
    assert s.source == "model" and s.sure and s.model_version == model.version
    assert s.category_code == "service.attitude" and s.department_code == "SERVICE"
    assert 0 < s.category_confidence <= 1
    junk = services.suggest("qwpoeiruty zmxncbv")
    assert not junk.sure and junk.category_code is None


def test_a_new_model_replaces_the_current_one_only_if_not_worse(org):
    cases = _closed_cases(org, 20)
    first = services.train(min_cases=30)
    assert first.status == "activated"
    # Same data again: not worse, so it replaces.
    second = services.train(min_cases=30)
    assert second.status == "activated" and second.model.version == 2
    # Corrupt the older (training) labels: the new model is worse on the same newest cases.
    labels = list(PHRASES)
    for c in cases[:40]:
        wrong = labels[(labels.index(c.category.code) + 1) % len(labels)]
        Case.objects.filter(pk=c.pk).update(category=factories_category(wrong))
    third = services.train(min_cases=30)
    assert third.status == "kept_current"
    assert TriageModel.objects.get(is_active=True).version == 2
    assert not TriageModel.objects.get(version=3).is_active
    assert "保留现用模型" in third.model.decision


def factories_category(code):
    from kesu.policy.models import Category

    return Category.objects.get(code=code)


def test_the_handlers_choice_is_recorded_as_feedback(org):
    case = factories.make_case(org.intake, category=None, description="快递迟迟没到，物流延误")
    fb = services.record_choice(case, "delivery.delay", org.handler)
    assert fb.accepted and fb.suggested == "delivery.delay" and fb.actor == org.handler
    fb2 = services.record_choice(case, "billing.wrong", org.handler)
    assert not fb2.accepted
    assert TriageFeedback.objects.filter(case=case).count() == 2


def test_recording_the_choice_computes_only_the_category_suggestion(org):
    """Inside every accept: the financial axes (the active policy, the channels) are not recorded, so
    not computed (issue 19)."""
    case = factories.make_case(org.intake, category=None, description="快递迟迟没到，物流延误")
    with CaptureQueriesContext(connection) as ctx:
        services.record_choice(case, "delivery.delay", org.handler)
    tables = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "policy_policy" not in tables and "policy_channel" not in tables, tables


def test_level_hint_reads_warning_words():
    assert services.level_hint("我已经找了律师准备起诉")[0] == "major"
    assert services.level_hint("再不解决就向银保监投诉并曝光")[0] == "crisis"
    assert services.level_hint("商品有点小问题")[0] == "normal"


@pytest.mark.django_db
def test_suggest_without_any_policy_taxonomy_is_not_sure():
    s = services.suggest("任何内容")
    assert not s.sure and s.source == "keywords"


def test_accepting_a_case_records_the_persons_choice_against_the_suggestion(org):
    from kesu.cases.services import perform
    from kesu.insight.models import TriageFeedback
    from tests import factories

    case = factories.make_case(org.intake, category=None, description="客服态度恶劣，不耐烦，还辱骂我")
    perform(case, "accept", org.intake, category="service.attitude")
    feedback = TriageFeedback.objects.get(case=case)
    assert feedback.chosen == "service.attitude" and feedback.actor == org.intake
    # Cold start: the policy's keywords (态度, 恶劣, 辱骂) suggested the same category.
    assert feedback.suggested == "service.attitude" and feedback.accepted
    assert case.events.get(action="accept").payload["suggested_category"] == "service.attitude"
