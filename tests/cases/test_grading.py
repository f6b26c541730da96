"""Automatic grading (定级) and its manual override."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kesu.cases.models import Case
from kesu.cases.services import perform, register_case
from kesu.errors import Invalid
from tests import factories
from tests.cases.helpers import snapshot

pytestmark = pytest.mark.django_db


def complain(o, customer: dict, **overrides) -> Case:
    return register_case(actor=o.intake, data=factories.complaint_data(customer=customer, **overrides)).case


def test_repeat_by_phone_raises_to_urgent_then_major(org):
    who = {"name": "王先生", "phone": "13900001111"}
    first = complain(org, who, subject_no="P-100")
    second = complain(org, {"name": "王先生", "phone": "+86 139-0000-1111"}, subject_no="P-100")
    third = complain(org, who, subject_no="P-100")
    assert [c.level for c in (first, second, third)] == ["normal", "urgent", "major"]
    assert [c.repeat_count for c in (first, second, third)] == [1, 2, 3]
    assert (second.repeat_of, third.repeat_of) == (first, second)
    assert third.level_reasons[0]["rule"] == "repeat"


def test_repeat_is_found_by_id_number_and_policy_number(org):
    a = complain(org, {"name": "李女士", "phone": "13900002222", "id_number": "110101199001011234"})
    b = complain(org, {"name": "李女士", "email": "li@example.test", "id_number": "110101199001011234"})
    assert (a.level, b.level, b.repeat_of) == ("normal", "urgent", a)
    c = complain(org, {"name": "赵", "phone": "13900003333", "policy_no": "BD-7788"})
    d = complain(org, {"name": "赵", "address": "上海市某路 1 号", "policy_no": "BD-7788"})
    assert (c.level, d.level, d.repeat_of) == ("normal", "urgent", c)


def test_a_different_matter_or_person_is_not_a_repeat(org):
    who = {"name": "周", "phone": "13900004444"}
    complain(org, who, category="product.defect", subject_no="ORDER-1")
    other_order = complain(org, who, category="product.defect", subject_no="ORDER-2")
    other_category = complain(
        org,
        who,
        category="billing.wrong",
        subject_no="ORDER-1",
        description="上月账单重复扣了两次月费，请退还。",
    )
    other_person = complain(org, {"name": "吴", "phone": "13900005555"}, subject_no="ORDER-1")
    assert [c.level for c in (other_order, other_category, other_person)] == ["normal"] * 3
    assert other_order.repeat_of is None and other_person.repeat_of is None


def test_same_matter_in_other_words_is_a_repeat_even_in_another_category(org):
    # Intake often classifies the second call differently; the similar text still marks the same matter.
    who = {"name": "孙", "phone": "13900007777"}
    first = complain(
        org, who, category="product.defect", description="新买的热水器漏水，地板都泡坏了，要求上门更换。"
    )
    second = complain(
        org,
        who,
        category="service.attitude",
        description="热水器漏水把地板泡坏了，一直没人上门更换，要求尽快处理。",
    )
    unrelated = complain(
        org, who, category="billing.wrong", description="上月账单重复扣了两次月费，请退还多扣的钱。"
    )
    assert (second.level, second.repeat_of, second.repeat_count) == ("urgent", first, 2)
    assert unrelated.level == "normal" and unrelated.repeat_count == 1


def test_repeats_outside_the_window_do_not_count(org):
    who = {"name": "钱", "phone": "13900006666"}
    now = timezone.now()
    complain(org, who, received_at=(now - dt.timedelta(days=400)).isoformat())
    assert complain(org, who).level == "normal"


@pytest.mark.parametrize("preset,size", [("general", 5), ("insurance", 5), ("securities", 10)])
def test_group_size_per_preset(db, preset, size):
    o = factories.org(preset)
    category = {"securities": "account", "insurance": "claims.delay"}.get(preset, "product.defect")
    below = factories.make_case(o.intake, people_count=size - 1, category=category)
    at = factories.make_case(o.intake, people_count=size, category=category)
    assert below.level == "normal"
    assert at.level == "major"
    assert {
        "rule": "group",
        "level": "major",
        "detail": f"群体投诉 {size} 人（≥{size}）",
        "params": {"people": size, "size": size},
    } in at.level_reasons


@pytest.mark.parametrize("channel", ["regulator_local", "regulator_national", "media", "internet", "12315"])
def test_regulator_media_and_internet_channels_make_a_crisis(org, channel):
    case = factories.make_case(org.intake, channel=channel)
    assert case.level == "crisis"
    assert case.level_reasons[-1]["rule"] == "channel"


@pytest.mark.parametrize("flag", ["injury", "safety", "media", "lawyer"])
def test_injury_safety_media_lawyer_flags_make_it_major(org, flag):
    case = factories.make_case(org.intake, flags=[flag])
    assert case.level == "major" and case.level_reasons == [
        {"rule": f"flag:{flag}", "level": "major", "detail": case.level_reasons[0]["detail"]}
    ]


def test_the_highest_rule_wins(org):
    case = factories.make_case(org.intake, channel="media", flags=["injury"], people_count=8)
    assert case.level == "crisis"
    assert {r["rule"] for r in case.level_reasons} == {"group", "flag:injury", "channel"}


def test_preset_category_rules(db):
    o = factories.org("auto_dealer")
    from tests.factories import department

    department("TECH_SUPPORT", "技术支持部", o.hq)
    case = factories.make_case(o.intake, category="vehicle.airbag")
    assert case.level == "major" and case.level_reasons[0]["rule"] == "category"


def test_manual_override_needs_a_reason_is_recorded_and_survives_regrading(org):
    o = org
    case = factories.make_case(o.intake)
    before = snapshot()
    with pytest.raises(Invalid) as exc:
        perform(case, "regrade", o.supervisor, expected_version=case.version, level="major", reason="  ")
    assert exc.value.details == {"reason": "必填"}
    with pytest.raises(Invalid):
        perform(case, "regrade", o.supervisor, expected_version=case.version, level="huge", reason="x")
    assert snapshot() == before

    event = perform(
        case,
        "regrade",
        o.supervisor,
        expected_version=case.version,
        level="major",
        reason="客户情绪激动，扬言投诉媒体",
    )
    assert event.payload == {
        "from_level": "normal",
        "to_level": "major",
        "reason": "客户情绪激动，扬言投诉媒体",
    }
    assert case.level == "major" and case.level_overridden
    assert case.level_reasons[-1] == {
        "rule": "manual",
        "level": "major",
        "detail": "客户情绪激动，扬言投诉媒体",
    }

    # Accepting grades automatically again — but never undoes the person's decision.
    event = perform(case, "accept", o.intake, expected_version=case.version)
    case.refresh_from_db()
    assert case.level == "major" and event.payload["level_overridden"] is True

    # An override may also lower the level, and then stays lowered.
    media = factories.make_case(o.intake, channel="media")
    perform(
        media,
        "regrade",
        o.manager,
        expected_version=media.version,
        level="urgent",
        reason="经核实为客户本人转发，非媒体报道",
    )
    perform(media, "accept", o.intake, expected_version=media.version)
    media.refresh_from_db()
    assert media.level == "urgent"


def test_handler_cannot_override_the_level(org):
    from kesu.errors import Forbidden, NotFound

    case = factories.make_case(org.intake)
    with pytest.raises((Forbidden, NotFound)):  # the handler does not even see it (404)
        perform(case, "regrade", org.handler, expected_version=case.version, level="crisis", reason="x")


def test_grading_reasons_are_said_in_the_readers_language(org):
    """Reasons are kept with their parameters and said in the reader's language; the stored detail is
    the Chinese record, and a reason kept without parameters (older cases) shows it as it is."""
    from django.utils import translation

    from kesu.cases.grading import reason_text

    who = {"name": "王先生", "phone": "13900001111"}
    complain(org, who, subject_no="P-200")
    second = complain(org, who, subject_no="P-200", people_count=8)
    by_rule = {r["rule"]: r for r in second.level_reasons}
    assert by_rule["repeat"]["detail"] == "第2次投诉同一事项"
    with translation.override("en"):
        english = {rule: reason_text(r, second) for rule, r in by_rule.items()}
    with translation.override("zh-hans"):
        chinese = {rule: reason_text(r, second) for rule, r in by_rule.items()}
    assert chinese["repeat"] == "第2次投诉同一事项" and chinese["group"] == "群体投诉 8 人（≥5）"
    assert not any("\u4e00" <= ch <= "\u9fff" for text in english.values() for ch in text), english
    assert "8" in english["group"] and "2" in english["repeat"]
    old = {"rule": "repeat", "level": "urgent", "detail": "第2次投诉同一事项"}
    with translation.override("en"):
        assert reason_text(old) == "第2次投诉同一事项"
        assert reason_text({"rule": "default", "level": "normal", "detail": "首次投诉"}) != "首次投诉"
