"""Writes of the workbench: bulk actions from a queue, saved views.

A bulk action is many single actions: each case goes through `kesu.cases.services.perform` in its own
transaction, so one refusal (a case another person just closed, a role the user lacks for that case)
does not block the others; the outcome of every case is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kesu.cases import selectors as case_selectors
from kesu.cases.services import perform
from kesu.cases.transitions import TRANSITIONS
from kesu.errors import DomainError, Forbidden, Invalid, NotFound
from kesu.org import roles
from kesu.org.selectors import department_of, user_roles
from kesu.web.models import SavedView

# action -> label on the queue page; "close" is the hand-over to follow-up (a closed complaint goes
# to the 待回访 queue).
BULK_ACTIONS = {
    "assign": gettext_lazy("分派/改派"),
    "archive": gettext_lazy("归档"),
    "close": gettext_lazy("结案并移交回访"),
}
BULK_FIELDS = {"assign": ("department", "handler", "note"), "archive": (), "close": ("criterion", "note")}
MAX_BULK = 200


@dataclass
class BulkOutcome:
    number: str
    done: bool
    message: str = ""


def bulk_actions_for(user) -> dict[str, str]:
    """The bulk actions whose roles the user holds (perform still decides per case)."""
    mine = user_roles(user)
    return {name: str(label) for name, label in BULK_ACTIONS.items() if TRANSITIONS[name].roles & mine}


def bulk_perform(user, numbers: list[str], action: str, data: dict) -> list[BulkOutcome]:
    """Apply `action` to each case, one transaction each; the outcome per case, in the order given."""
    if action not in BULK_ACTIONS:
        raise Invalid(_("不支持的批量操作"), details={"action": _("不支持")})
    numbers = list(dict.fromkeys(n for n in numbers if n))
    if not numbers:
        raise Invalid(_("请先勾选案件"), details={"case": _("必填")})
    if len(numbers) > MAX_BULK:
        raise Invalid(_("一次最多处理 %(n)d 件") % {"n": MAX_BULK}, details={"case": _("过多")})
    kwargs = {k: v for k, v in data.items() if k in BULK_FIELDS[action] and v not in (None, "")}
    if action == "close" and not kwargs.get("criterion"):
        raise Invalid(_("请选择结案依据"), details={"criterion": _("必填")})
    out = []
    for number in numbers:
        try:
            case = case_selectors.get_case(user, number=number)
            # No expected version: the person chose the rows, not a version of each; perform still
            # checks the status, the role and the department under the row lock.
            perform(case, action, user, **kwargs)
        except DomainError as exc:  # refused (403/404/409/400): reported, the others go on
            out.append(BulkOutcome(number, False, exc.message))
        else:
            out.append(BulkOutcome(number, True))
    return out


# --- saved views ---------------------------------------------------------------------------------

VIEW_KEYS = ("status", "level", "kind", "category", "channel", "q", "overdue", "due", "sort")
SHARE_ROLES = {roles.DEPT_HEAD, roles.SUPERVISOR}


def may_share(user) -> bool:
    return bool(user_roles(user) & SHARE_ROLES) and department_of(user) is not None


def clean_query(query: str) -> str:
    """Only the queue page's filter parameters, in a stable order (no paging, no cursor, no export)."""
    pairs = [(k, v) for k, v in parse_qsl(query or "", keep_blank_values=False) if k in VIEW_KEYS and v]
    return urlencode(sorted(pairs))[:1000]


def save_view(user, *, queue: str, name: str, query: str, share: bool = False) -> SavedView:
    name = (name or "").strip()
    if not name:
        raise Invalid(_("请填写视图名称"), details={"name": _("必填")})
    if len(name) > 60:
        raise Invalid(_("视图名称最多 60 字"), details={"name": _("过长")})
    if share and not may_share(user):
        raise Forbidden(_("只有部门负责人或投诉主管可以共享视图"))
    department = department_of(user) if share else None
    try:
        with transaction.atomic():
            view, _created = SavedView.objects.update_or_create(
                owner=user,
                queue=queue,
                name=name,
                defaults={"query": clean_query(query), "department": department},
            )
    except IntegrityError:  # a concurrent save of the same name: the other one wins
        view = SavedView.objects.get(owner=user, queue=queue, name=name)
    return view


def delete_view(user, view_id: int) -> None:
    deleted, _rows = SavedView.objects.filter(pk=view_id, owner=user).delete()
    if not deleted:
        raise NotFound(_("视图不存在"))


def reply_and_close(
    case, user, *, expected_version: int | None, reply: dict, criterion: str, note: str = ""
) -> None:
    """The reply form's "答复后结案": two lifecycle actions, each through `perform` (its checks, event and
    subscribers), in one transaction — a refused close leaves no reply sent without it, and the form
    with the person's text comes back with the reason."""
    with transaction.atomic():
        perform(case, "reply", user, expected_version=expected_version, **reply)
        data = {"criterion": criterion}
        if note:
            data["note"] = note
        # No version of its own: the row is locked by this transaction since the reply's check.
        perform(case, "close", user, **data)


def start_and_request_collaboration(
    case, user, *, expected_version: int | None, start: dict, department: str, question: str
) -> None:
    """The start form's "同时请求协办": the start and the collaboration request, each through `perform`,
    in one transaction (a refused request leaves the case as it was)."""
    with transaction.atomic():
        perform(case, "start_investigation", user, expected_version=expected_version, **start)
        perform(case, "request_collaboration", user, department=department, question=question)


def accept_and_assign(case, user, *, expected_version: int | None, accept: dict, handler: str) -> None:
    """The accept form's "同时分派给经办人": acceptance and assignment, each through `perform`, in one
    transaction (a refused assignment leaves the case unaccepted, and the form says why)."""
    with transaction.atomic():
        perform(case, "accept", user, expected_version=expected_version, **accept)
        perform(case, "assign", user, handler=handler)
