"""Reads about people, roles and departments."""

from functools import lru_cache

from django.contrib.auth.models import AbstractBaseUser

from kesu.org import roles
from kesu.org.models import Department, Staff


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
