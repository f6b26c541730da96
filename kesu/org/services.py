"""Writes to the organisation: departments, staff, roles, tokens."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from kesu.org import roles, stamps
from kesu.org.models import Department, OrgStamp, Staff


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
    password_hash: str | None = None,
) -> Staff:
    """A user with their staff row and role groups. `password_hash`, an already-hashed password
    (`make_password`), spares the key derivation (~0.3 s of CPU each) for accounts that share one
    password, as the demo company's do."""
    unknown = set(role_codes) - set(roles.ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    User = get_user_model()
    user = User(username=username, email=email, first_name=full_name)
    if password_hash:
        user.password = password_hash
    elif password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.is_staff = roles.ADMIN in role_codes
    user.save()
    for code in role_codes:
        group, _ = Group.objects.get_or_create(name=code)
        user.groups.add(group)
    return Staff.objects.create(user=user, department=department, supervisor=supervisor, title=title)


@transaction.atomic
def ensure_policy_departments(document: dict, *, parent: Department | None = None) -> list[Department]:
    """Create the departments a policy routes to (categories, default, whistle-blowing) that do not exist
    yet, named from the policy's `org_units` (Chinese `name`, English `name_en`), under `parent` (the head
    office by default); an existing department of the policy's Chinese name and without an English
    name gets the policy's.
    Returns the departments created."""
    names = {u["code"]: u["name"] for u in document.get("org_units", [])}
    english = {u["code"]: u["name_en"] for u in document.get("org_units", []) if u.get("name_en")}
    codes = set(names)
    codes |= {c["department"] for c in document.get("categories", []) if c.get("department")}
    departments = document.get("departments", {})
    codes |= {departments[k] for k in ("default", "whistleblowing") if departments.get(k)}
    if parent is None:
        parent = Department.objects.filter(parent__isnull=True).order_by("pk").first()
    existing = set(Department.objects.filter(code__in=codes).values_list("code", flat=True))
    created = []
    for code in sorted(codes - existing):
        created.append(
            Department.objects.create(
                code=code,
                name=names.get(code, code),
                name_en=english.get(code, ""),
                parent=parent,
                kind=Department.Kind.FUNCTIONAL,
            )
        )
    for code, name_en in english.items():
        # Only where the department is the one the policy names (an installation's own name may differ).
        Department.objects.filter(code=code, name=names[code], name_en="").update(name_en=name_en)
    bump_org()  # QuerySet.update sends no post_save
    return created


def bump_org() -> None:
    """A new token for the organisation's stamp: every process's cached pickers are stale.

    Called by the post_save/post_delete/m2m_changed hooks of kesu.org.apps and by set-based writers
    (QuerySet.update sends no signal); inside the writer's transaction, so other processes see the new
    token with the new rows.
    """
    stamps.bump(OrgStamp)
