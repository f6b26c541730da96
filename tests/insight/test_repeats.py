"""Earlier cases of the same customer / the same matter, and group complaints."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from kesu.insight import services
from kesu.insight.models import GroupAlert
from kesu.insight.repeats import find_related, related_for_case
from tests import factories


def _ago(days: float) -> str:
    return (timezone.now() - dt.timedelta(days=days)).isoformat()


def test_finds_the_same_customer_by_phone_and_id(org):
    old = factories.make_case(
        org.intake,
        description="保单理赔一直没有到账，已经等了两个月",
        customer={"name": "张三", "phone": "13900001111", "id_number": "110101199001011234"},
        received_at=_ago(30),
    )
    factories.make_case(org.intake, description="别人的投诉：网点排队太久", received_at=_ago(20))
    hits = find_related(
        "我要投诉你们的服务电话打不通",
        {"phone": "+86 139-0000-1111", "name": "张 三"},
        received_at=timezone.now(),
    )
    assert [h.case_id for h in hits] == [old.pk]
    assert hits[0].same_customer and "电话相同" in hits[0].reasons and hits[0].score >= 0.95


def test_finds_similar_text_of_another_customer_and_ignores_dissimilar(org):
    similar = factories.make_case(
        org.intake,
        description="购买的华为平板电脑屏幕出现大面积坏点，要求退货退款",
        received_at=_ago(5),
    )
    factories.make_case(org.intake, description="信用卡年费被重复扣取，要求退还", received_at=_ago(4))
    too_old = factories.make_case(
        org.intake, description="购买的华为平板电脑屏幕出现大面积坏点，要求退货退款", received_at=_ago(200)
    )
    hits = find_related(
        "华为平板电脑屏幕有大面积坏点，要求退货并退款", {"phone": "13700000000"}, window_days=90
    )
    ids = [h.case_id for h in hits]
    assert ids == [similar.pk]
    assert too_old.pk not in ids
    assert hits[0].same_matter and not hits[0].same_customer


def test_same_subject_number_is_the_same_matter(org):
    old = factories.make_case(
        org.intake, description="车险理赔金额有争议", subject_no="PA-2025-0001", received_at=_ago(60)
    )
    hits = find_related("另一段描述", {}, subject_no="PA-2025-0001")
    assert hits and hits[0].case_id == old.pk and hits[0].same_matter


def test_related_for_a_case_excludes_itself(org):
    a = factories.make_case(
        org.intake, customer={"name": "李四", "phone": "13811112222"}, received_at=_ago(10)
    )
    b = factories.make_case(
        org.intake, customer={"name": "李四", "phone": "13811112222"}, received_at=_ago(1)
    )
    assert [r.case_id for r in related_for_case(b)] == [a.pk]
    # The identifier matcher of grading saw the same: the second complaint is urgent.
    b.refresh_from_db()
    assert b.repeat_count == 2 and b.level == "urgent"


def test_many_customers_on_the_same_matter_raise_a_group_alert(org):
    for i in range(6):
        factories.make_case(
            org.intake,
            description=f"小区二号楼电梯连续三天停运，老人无法下楼，物业不处理（住户{i}）",
            customer={"name": f"住户{i}", "phone": f"1350000{i:04d}"},
            received_at=_ago(1 + i * 0.1),
        )
    factories.make_case(org.intake, description="手机信号差", received_at=_ago(1))
    alerts = services.run_group_detection(deliver=False)
    assert len(alerts) == 1
    assert alerts[0].customers == 6 and len(alerts[0].case_ids) == 6
    # Running again extends the same alert instead of raising a second one.
    services.run_group_detection(deliver=False)
    assert GroupAlert.objects.count() == 1


def test_one_customer_complaining_often_is_not_a_group(org):
    for _ in range(6):
        factories.make_case(
            org.intake,
            description="小区二号楼电梯连续三天停运，物业不处理",
            customer={"name": "王五", "phone": "13500009999"},
            received_at=_ago(1),
        )
    assert services.run_group_detection(deliver=False) == []
