"""Reads about people, roles and departments."""

from functools import lru_cache

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F

from kesu.org import roles
from kesu.org.models import Department, OrgStamp, Staff
from kesu.org.stamps import read_token, stamp_sql


def org_stamp_sql() -> str:
    """The scalar subquery of the organisation's token, for a caller that folds it into its own raw read
    (kesu.policy.selectors.stamps reads it beside the taxonomy's token)."""
    return stamp_sql(OrgStamp)


def org_token() -> int | None:
    """The organisation's current token: one primary-key read of one integer (None without the row)."""
    return read_token(OrgStamp)


def user_roles(user: AbstractBaseUser) -> frozenset[str]:
    """The role codes of a user (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_kesu_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {roles.ADMIN}
        user._kesu_roles = cached
    return cached


def has_role(user: AbstractBaseUser, *codes: str) -> bool:
    return bool(user_roles(user) & set(codes))


def holds_any_role(user: AbstractBaseUser, codes) -> bool:
    return bool(user_roles(user) & set(codes))


def staff_of(user: AbstractBaseUser) -> Staff | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.staff
    except Staff.DoesNotExist:
        return None


def department_of(user: AbstractBaseUser) -> Department | None:
    staff = staff_of(user)
    return staff.department if staff else None


def is_company_wide(user: AbstractBaseUser) -> bool:
    return bool(user_roles(user) & roles.COMPANY_WIDE_ROLES)


def direct_supervisor(user: AbstractBaseUser):
    """The user's direct supervisor (a user), or the head of the department as a fallback."""
    staff = staff_of(user)
    if staff is None:
        return None
    if staff.supervisor_id:
        return staff.supervisor.user
    head = department_heads(staff.department).exclude(pk=user.pk).first()
    return head


def direct_supervisors(users) -> dict[int, AbstractBaseUser | None]:
    """`direct_supervisor` of each user (by user id) in two reads, whatever the number of users."""
    users = {u.pk: u for u in users if u is not None}
    staff = {
        s.user_id: s for s in Staff.objects.filter(user_id__in=list(users)).select_related("supervisor__user")
    }
    out: dict[int, AbstractBaseUser | None] = {pk: None for pk in users}
    departments = set()
    for pk, s in staff.items():
        if s.supervisor_id:
            out[pk] = s.supervisor.user
        else:
            departments.add(s.department_id)
    if departments:
        heads = department_heads_of(departments)
        for pk, s in staff.items():
            if not s.supervisor_id:
                # As `direct_supervisor`: the department's first head by id who is not the user.
                out[pk] = next((h for h in heads.get(s.department_id, []) if h.pk != pk), None)
    return out


def department_heads_of(department_ids) -> dict[int, list]:
    """`department_heads` of several departments (by department id) in one read."""
    from django.contrib.auth import get_user_model

    out: dict[int, list] = {}
    rows = get_user_model().objects.filter(
        staff__department__in=set(department_ids), groups__name=roles.DEPT_HEAD
    )
    for head in rows.annotate(head_of=F("staff__department")).order_by("pk"):
        out.setdefault(head.head_of, []).append(head)
    return out


def department_heads(department: Department):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(staff__department=department, groups__name=roles.DEPT_HEAD)


def users_with_role(role: str, department: Department | None = None):
    from django.contrib.auth import get_user_model

    qs = get_user_model().objects.filter(groups__name=role, is_active=True)
    if department is not None:
        qs = qs.filter(staff__department=department)
    return qs.distinct()


@lru_cache(maxsize=1)
def role_labels() -> dict[str, str]:
    return {code: str(label) for code, label in roles.ROLE_LABELS.items()}
