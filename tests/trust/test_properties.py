"""Properties of the transition service and the import parsers (hypothesis).

Random action sequences by random people never reach an illegal state and never lose an event: every
event starts from the status the previous one ended in, only from a status the transition table allows
for its action; the case's status is the last event's; the event count equals the version and the
sequence numbers are exactly 1..n. Refused actions change nothing.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kesu.cases.models import Case, CaseEvent, Status
from kesu.cases.services import perform
from kesu.cases.transitions import TRANSITIONS
from kesu.errors import DomainError
from tests import factories

PEOPLE = [
    "intake",
    "handler",
    "handler2",
    "quality_head",
    "claims_handler",
    "finance_handler",
    "supervisor",
    "manager",
    "gm",
    "followup",
    "analyst",
    "risk",
    "archivist",
    "admin",
]


def _data(action: str, o) -> dict:
    return {
        "mark_invalid": {"reason": "not_specific", "note": "无法核实"},
        "answer_first_contact": {"answer": "整机保修三年。"},
        "assign": {"handler": o.handler.pk},
        "start_investigation": {"contacted_customer": True},
        "add_note": {"text": "电话联系客户", "contacted_customer": True},
        "request_collaboration": {"department": "FINANCE", "question": "请核实付款记录"},
        "propose_remedy": {"remedy_type": "compensation", "amount": "1500", "description": "赔偿 1500 元"},
        "approve": {"comment": "同意"},
        "reject": {"comment": "不同意"},
        "reply": {"text": "已为您安排赔偿。"},
        "close": {"criterion": "accepted"},
        "suspend": {"reason": "客户暂无法联系"},
        "resume": {"note": "客户回国"},
        "follow_up": {"score": 5, "comment": "满意"},
        "reopen": {"reason": "客户再次来电"},
        "regrade": {"level": "urgent", "reason": "客户再次投诉"},
        "extend_deadline": {"days": 3, "reason": "需要鉴定"},
        "request_special_closure": {"reason": "诉求明显超出损失"},
    }.get(action, {})


ACTIONS = sorted(a for a in TRANSITIONS if a not in {"customer_mail", "link_continuation", "attach"})
steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(PEOPLE)), min_size=1, max_size=14)


def _check_invariants(case: Case) -> None:
    case.refresh_from_db()
    events = list(
        CaseEvent.objects.filter(case=case)
        .order_by("seq")
        .values_list("seq", "action", "from_status", "to_status")
    )
    assert [e[0] for e in events] == list(range(1, len(events) + 1)), "event sequence has a gap"
    assert len(events) == case.version, "event count differs from the version"
    assert events[0][1] == "register"
    previous = events[0][3]
    for _seq, action, from_status, to_status in events[1:]:
        assert from_status == previous, f"{action} started from {from_status}, case was {previous}"
        assert from_status in TRANSITIONS[action].from_statuses, f"{action} from {from_status}"
        assert to_status in Status.values
        previous = to_status
    assert case.status == previous


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps, favour_progress=st.booleans())
def test_random_action_sequences_keep_the_lifecycle_legal(org, sequence, favour_progress):
    case = factories.make_case(org.intake)
    # Half the runs first walk the happy path a little, so later statuses are reached too.
    prefix = [("accept", "intake"), ("assign", "intake"), ("start_investigation", "handler")]
    for action, who in (prefix if favour_progress else []) + list(sequence):
        actor = getattr(org, who)
        case.refresh_from_db()
        version = case.version
        try:
            perform(case, action, actor, expected_version=version, **_data(action, org))
        except DomainError:
            case.refresh_from_db()
            assert case.version == version, f"refused {action} changed the case"
        _check_invariants(case)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    value=st.one_of(
        st.text(max_size=40),
        st.text(alphabet="0123456789-/.:年月日时分秒 上下午T+", max_size=25),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.datetimes(),
        st.dates(),
        st.none(),
    )
)
def test_date_parser_never_crashes(value):
    from kesu.intake.parsers import parse_datetime

    result = parse_datetime(value)  # unreadable input is None (a rejected row), never an exception
    assert result is None or (isinstance(result, dt.datetime) and result.tzinfo is not None)


NOTATIONS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y年%m月%d日 %H时%M分%S秒",
    "%Y.%m.%d %H:%M:%S",
    "%Y%m%d%H%M%S",
]


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(
    moment=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2099, 12, 31)),
    notation=st.sampled_from(NOTATIONS),
)
def test_date_parser_reads_back_every_notation(moment, notation):
    from kesu.intake.parsers import SHANGHAI, parse_datetime

    moment = moment.replace(microsecond=0)
    assert parse_datetime(moment.strftime(notation)) == moment.replace(tzinfo=SHANGHAI)


WORDS = [
    "投诉",
    "理赔",
    "保单",
    "客户",
    "热水器",
    "漏水",
    "退款",
    "张三",
    "上海市",
    "13812345678",
    "ok",
    ",",
    "\n",
    "（",
    "）",
    "：",
    "元",
    " ",
]


@settings(max_examples=80, deadline=None, database=None, derandomize=True)
@given(
    parts=st.lists(st.sampled_from(WORDS), min_size=3, max_size=60),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"]),
)
def test_encoding_detection_reads_back_the_text(tmp_path_factory, parts, encoding):
    from kesu.intake.parsers import detect_encoding

    text = "名称,内容\n" + "".join(parts)
    raw = text.encode(encoding)
    path = tmp_path_factory.mktemp("enc") / "f.csv"
    path.write_bytes(raw)
    assert raw.decode(detect_encoding(path)).lstrip("\ufeff") == text
