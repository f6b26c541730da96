"""Similar resolved cases (restricted to what the viewer may see) and escalation risk from the text."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from kesu.cases.models import Case
from kesu.cases.services import perform
from kesu.insight import risk, services, similar
from kesu.insight.similar import similar_resolved_cases
from kesu.org.models import ApiToken
from tests import factories

LEAK = "热水器漏水把地板泡坏了，要求赔偿地板损失"


def resolved(
    o, description: str, *, remedy: str = "explanation", amount: str = "0", reply: str = "已答复", **kw
):
    """A complaint walked through the real lifecycle to closed: accept, assign, remedy, reply, close."""
    case = factories.make_case(o.intake, description=description, **kw)
    steps = [
        ("accept", o.intake, {}),
        ("assign", o.intake, {"handler": o.handler.pk}),
        ("start_investigation", o.handler, {}),
        ("propose_remedy", o.handler, {"remedy_type": remedy, "amount": amount, "description": "处理方案"}),
    ]
    if remedy != "explanation":
        steps.append(("approve", o.supervisor, {"comment": "同意"}))
    steps += [("reply", o.handler, {"text": reply}), ("close", o.handler, {"criterion": "accepted"})]
    for action, actor, data in steps:
        perform(case, action, actor, expected_version=case.version, **data)
    return case


def _get(user, path):
    key = ApiToken.issue(user, "t", scopes=["*"])[1]
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_the_most_similar_closed_case_comes_first_with_how_it_was_resolved(org):
    leak = resolved(
        org, LEAK + "，第一次", remedy="compensation", amount="800", reply="已赔偿地板损失 800 元。"
    )
    resolved(org, "客服态度恶劣，说话难听，要求道歉")
    # the follow-up visit happens on day 5 after closing at the earliest (001 篇9)
    later = leak.closed_at + dt.timedelta(days=5, hours=1)
    perform(leak, "follow_up", org.followup, expected_version=leak.version, score=5, now=later)
    new = factories.make_case(org.intake, description=LEAK + "，请尽快处理")

    rows = similar_resolved_cases(org.supervisor, new)
    assert rows[0].number == leak.number and rows[0].same_category
    first = rows[0]
    assert first.remedy == "compensation" and first.remedy_amount == "800.00"
    assert first.reply == "已赔偿地板损失 800 元。" and first.outcome == "accepted"
    assert first.satisfaction == 5 and first.satisfied is True
    assert first.text_similarity > rows[1].text_similarity
    assert new.number not in [r.number for r in rows]  # an open case is no precedent, least of all itself


def test_kept_vectors_score_as_vectors_computed_afresh(org):
    """The candidates' text vectors are kept between requests (issue 19): the result is the one computed
    afresh, and a candidate whose text has changed is not scored with its old vector."""
    resolved(org, LEAK + "，第一次", remedy="compensation", amount="800", reply="已赔偿。")
    other = resolved(org, "客服态度恶劣，说话难听，要求道歉")
    new = factories.make_case(org.intake, description=LEAK + "，请尽快处理")

    def scored():
        return [r.as_dict() for r in similar_resolved_cases(org.supervisor, new)]

    similar.clear_vector_cache()
    fresh = scored()
    assert len(similar._vectors) == 2
    assert scored() == fresh  # from the kept vectors
    before = next(r for r in fresh if r["number"] == other.number)["text_similarity"]
    Case.objects.filter(pk=other.pk).update(description=LEAK + "，第二次")
    kept = scored()
    similar.clear_vector_cache()
    assert kept == scored()
    assert next(r for r in kept if r["number"] == other.number)["text_similarity"] > before


def test_a_report_or_another_departments_case_never_appears_to_a_handler_who_may_not_see_it(org):
    own = resolved(org, LEAK + "，本部门")
    elsewhere = resolved(org, LEAK + "，财务部的")
    Case.objects.filter(pk=elsewhere.pk).update(department=org.finance, handler=org.finance_handler)
    report = factories.make_case(org.intake, kind="report", description=LEAK + "，举报")
    Case.objects.filter(pk=report.pk).update(status="closed", category=own.category)  # test data only
    new = factories.make_case(org.intake, description=LEAK)
    Case.objects.filter(pk=new.pk).update(department=own.department, handler=org.handler)
    new.refresh_from_db()

    seen = {r.number for r in similar_resolved_cases(org.handler, new)}
    assert seen == {own.number}
    # Company-wide oversight sees the other department's case, but never the whistle-blowing report.
    assert {r.number for r in similar_resolved_cases(org.supervisor, new)} == {own.number, elsewhere.number}

    response = _get(org.handler, f"/api/v1/insight/similar/{new.number}")
    assert response.status_code == 200
    assert [r["number"] for r in response.json()] == [own.number]
    assert _get(org.finance_handler, f"/api/v1/insight/similar/{new.number}").status_code in (403, 404)


def test_escalation_phrases_are_found_with_their_position():
    text = "再不处理我就向金融监管局投诉，并找媒体曝光！已咨询律师。拨打12378也没用，我没有受伤。"
    signals = risk.detect(text)
    assert {s.kind for s in signals} == {"regulator", "media", "lawyer"}
    for s in signals:
        assert text[s.start : s.end] == s.phrase
    assert [s.phrase for s in signals if s.kind == "regulator"] == ["金融监管局", "12378"]
    assert risk.proposed_flags(signals, ["injury", "safety", "media", "lawyer"]) == ["lawyer", "media"]
    # Negated, a company's threat, a cited regulation, the credit bureau, a masked number: no signal.
    for quiet in (
        "我没有受伤，只是很着急",
        "催收说要起诉我",
        "根据人民银行规定应当退还",
        "已上报人行征信",
        "借款110***元，分36期",
        "订单金额3150元",
    ):
        assert risk.detect(quiet) == [], quiet
    assert [s.kind for s in risk.detect("孩子被烫伤住进医院，热水器有安全隐患")] == ["injury", "safety"]
    assert [s.kind for s in risk.detect("不解决就报警！！！")] == ["police", "anger"]


def test_the_risk_endpoint_proposes_the_policys_flags(org):
    out = services.assess_risk("找记者曝光，孩子被烫伤了")
    assert out["proposed_flags"] == ["injury", "media"] and out["proposed_level"] == "major"
    key = ApiToken.issue(org.intake, "t", scopes=["*"])[1]
    response = Client().post(
        "/api/v1/insight/risk",
        data={"text": "已咨询律师，准备起诉"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["proposed_flags"] == ["lawyer"] and body["kinds"] == ["lawyer"]
    assert body["signals"][0] == {
        "kind": "lawyer",
        "phrase": "律师",
        "start": 3,
        "end": 5,
        "flag": "lawyer",
        "label": "律师/诉讼",
    }
    calm = services.assess_risk("快递晚到了一天")
    assert calm["signals"] == [] and calm["proposed_flags"] == [] and calm["proposed_level"] is None
