"""Writes to the organisation: departments, staff, roles, tokens."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from kesu.org import roles
from kesu.org.models import Department, Staff


def ensure_role_groups() -> None:
    for code in roles.ALL_ROLES:
        Group.objects.get_or_create(name=code)


@transaction.atomic
def create_staff(
    *,
    username: str,
    full_name: str,
    department: Department,
    role_codes: list[str],
    password: str | None = None,
    supervisor: Staff | None = None,
    email: str = "",
    title: str = "",
) -> Staff:
    unknown = set(role_codes) - set(roles.ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    User = get_user_model()
    user = User(username=username, email=email, first_name=full_name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.is_staff = roles.ADMIN in role_codes
    user.save()
    for code in role_codes:
        group, _ = Group.objects.get_or_create(name=code)
        user.groups.add(group)
    return Staff.objects.create(user=user, department=department, supervisor=supervisor, title=title)
