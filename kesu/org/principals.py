"""Who sends a request, read in one query: the user with its staff row, department and role codes.

Every authenticated request needs them (the permission checks read the roles through
`kesu.org.selectors.user_roles` and the department through `department_of`), and every request used
to pay three or four queries for them, each compiled by the ORM again: the bearer token with its
user, staff row and department, then the user's groups. Here one statement, built once per process
from the models' columns and sent without the ORM's query compilation (as the active-policy check in
`kesu.policy.selectors`), returns all of it with the role codes folded in (a JSON array from a
correlated subquery); the objects come out as the ORM's `select_related` would have left them, with
the roles cached on the user for the request.

Nothing is cached across requests: a revoked token, a deactivated user or a changed role takes effect
at the next request, from whichever process it was changed.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model

from kesu.org import roles
from kesu.org.models import ApiToken, Department, Staff

_sql: dict[tuple[str, str], str] = {}
_loaders: dict[tuple[str, str], tuple[list[str], list[tuple[Any, list[Any]]]]] = {}


def _concrete(model: type[Model]) -> list[Any]:
    return list(model._meta.concrete_fields)


def _select(key: str) -> str:
    """The statement for `key` ("token": by the token's hash; "user": by the user's id), per vendor."""
    cached = _sql.get((connection.vendor, key))
    if cached is not None:
        return cached
    quote = connection.ops.quote_name
    user_model = get_user_model()
    groups = user_model._meta.get_field("groups")
    through = groups.remote_field.through._meta
    group_table = groups.related_model._meta.db_table
    user_column = through.get_field(groups.m2m_field_name()).column
    group_column = through.get_field(groups.m2m_reverse_field_name()).column
    aggregate = "json_agg" if connection.vendor == "postgresql" else "json_group_array"
    role_codes = (
        f"(SELECT {aggregate}(g.{quote('name')}) FROM {quote(through.db_table)} ug "
        f"JOIN {quote(group_table)} g ON g.{quote('id')} = ug.{quote(group_column)} "
        f"WHERE ug.{quote(user_column)} = u.{quote(user_model._meta.pk.column)})"
    )
    parts = [("u", user_model), ("s", Staff), ("d", Department)]
    if key == "token":
        parts.insert(0, ("t", ApiToken))
    columns = ", ".join(f"{alias}.{quote(f.column)}" for alias, model in parts for f in _concrete(model))
    staff_user = quote(Staff._meta.get_field("user").column)
    staff_department = quote(Staff._meta.get_field("department").column)
    user_pk = quote(user_model._meta.pk.column)
    joins = (
        f"LEFT JOIN {quote(Staff._meta.db_table)} s ON s.{staff_user} = u.{user_pk} "
        f"LEFT JOIN {quote(Department._meta.db_table)} d ON d.{quote('id')} = s.{staff_department}"
    )
    if key == "token":
        token_user = quote(ApiToken._meta.get_field("user").column)
        sql = (
            f"SELECT {columns}, {role_codes} FROM {quote(ApiToken._meta.db_table)} t "
            f"JOIN {quote(user_model._meta.db_table)} u ON u.{user_pk} = t.{token_user} {joins} "
            f"WHERE t.{quote('key_hash')} = %s"
        )
    else:
        sql = (
            f"SELECT {columns}, {role_codes} FROM {quote(user_model._meta.db_table)} u {joins} "
            f"WHERE u.{user_pk} = %s"
        )
    _sql[(connection.vendor, key)] = sql
    return sql


def _loader(model: type[Model]) -> tuple[list[str], list[tuple[Any, list[Any]]]]:
    """The model's attribute names and, per column, its expression with the converters the ORM's
    compiler would apply to it (the backend's first, then the field's: JSON text, SQLite's booleans and
    datetimes)."""
    key = (connection.vendor, model._meta.label)
    cached = _loaders.get(key)
    if cached is None:
        columns = []
        for field in _concrete(model):
            col = field.get_col(model._meta.db_table)
            columns.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        cached = ([f.attname for f in _concrete(model)], columns)
        _loaders[key] = cached
    return cached


def _build(model: type[Model], values: list[Any]) -> Model:
    attnames, columns = _loader(model)
    converted = []
    for (col, converters), value in zip(columns, values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, attnames, converted)


def _principal(row: tuple[Any, ...], *, with_token: bool) -> tuple[Any, ApiToken | None]:
    user_model = get_user_model()
    models: list[type[Model]] = [user_model, Staff, Department]
    if with_token:
        models.insert(0, ApiToken)
    objects: list[Model | None] = []
    at = 0
    for model in models:
        width = len(_concrete(model))
        values = list(row[at : at + width])
        at += width
        # A user without a staff row (an administrator, an integration account): no staff, no department.
        objects.append(None if values[0] is None else _build(model, values))
    token = objects.pop(0) if with_token else None
    user, staff, department = objects
    codes = row[at]
    names = json.loads(codes) if isinstance(codes, str) else list(codes or [])
    cached = frozenset(n for n in names if n is not None)
    if user.is_superuser:
        cached = cached | {roles.ADMIN}
    user._kesu_roles = cached  # what kesu.org.selectors.user_roles would read, for this request
    user._state.fields_cache[user_model._meta.get_field("staff").cache_name] = staff
    if staff is not None:
        staff._state.fields_cache["user"] = user
        staff._state.fields_cache["department"] = department
    if token is not None:
        token._state.fields_cache["user"] = user
    return user, token


def token_with_principal(key_hash: str) -> ApiToken | None:
    """The token with this hash, its user (staff row, department and role codes loaded), or None."""
    with connection.cursor() as cursor:
        cursor.execute(_select("token"), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    _user, token = _principal(row, with_token=True)
    return token


def user_with_principal(user_id: Any) -> Any | None:
    """The user with this id (staff row, department and role codes loaded), or None."""
    try:
        user_id = get_user_model()._meta.pk.to_python(user_id)
    except Exception:  # noqa: BLE001 - a malformed id in a session is no user
        return None
    with connection.cursor() as cursor:
        cursor.execute(_select("user"), [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    user, _token = _principal(row, with_token=False)
    return user
