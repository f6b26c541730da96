"""Reads of the write path compiled once per connection instead of once per call.

Django compiles a queryset to SQL on every evaluation. For the statement that locks the case in
`perform` (the case with its channel, category and department, ~90 columns, and the chain head) that
compile cost about as much CPU as the database's work for it (1.0 ms of a 7 ms accept on SQLite,
bench/write22_micro.py); the customer lookup of every
registration 0.5 ms. `fetch(key, build, args)` compiles `build(*sentinels)` once per database
connection, remembers where each sentinel's value sits in the statement's parameters, and afterwards
only sends the statement with the caller's values in those places, building the instances (with their
`select_related` rows and annotations) as Django's own `ModelIterable` does.

Only for querysets whose SQL does not depend on the values (no None, no empty lists: the caller keys
each shape separately) and whose values reach the parameters unchanged (ids, text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# What `build` is called with: values no real argument takes, each findable among the parameters.
_INT_SENTINELS = tuple(-7_717_000_001 - i for i in range(8))
_STR_SENTINELS = tuple(f"\x00kesu-prepared-{i}\x00" for i in range(8))


@dataclass
class _Plan:
    sql: str
    params: list[Any]  # the compiled parameters, a sentinel's places overwritten per call
    slots: list[tuple[int, int]]  # (parameter position, argument index)
    compiler: Any
    converters: dict
    model: type[Model]
    start: int
    end: int
    init_list: list[str]
    populators: list
    annotations: dict[str, int]


def _sentinels(args: Sequence[Any]) -> list[Any]:
    out = []
    for i, value in enumerate(args):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"prepared: argument {i} must be an int or a str, not {type(value).__name__}")
        out.append(_INT_SENTINELS[i] if isinstance(value, int) else _STR_SENTINELS[i])
    return out


def _plan(queryset: QuerySet, sentinels: list[Any]) -> _Plan:
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    slots = []
    for position, param in enumerate(params):
        for index, sentinel in enumerate(sentinels):
            if type(param) is type(sentinel) and param == sentinel:
                slots.append((position, index))
    if {index for _p, index in slots} != set(range(len(sentinels))):
        raise ValueError("prepared: a value does not reach the statement's parameters unchanged")
    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    return _Plan(
        sql=sql,
        params=list(params),
        slots=slots,
        compiler=compiler,
        converters=compiler.get_converters([s[0] for s in select[0 : compiler.col_count]]),
        model=klass_info["model"],
        start=start,
        end=end,
        init_list=[f[0].target.attname for f in select[start:end]],
        populators=get_related_populators(klass_info, select, queryset.db),
        annotations=dict(compiler.annotation_col_map or {}),
    )


def fetch(key: Any, build: Callable[..., QuerySet], args: Sequence[Any], *, using: str = "default") -> list:
    """The instances `build(*args)` would give, from the statement compiled once per connection.

    `key` names the queryset's shape (what `build` does with its arguments); `args` are ints or strs.
    """
    connection = connections[using]
    plans: dict[Any, _Plan] = connection.__dict__.setdefault("_kesu_prepared", {})
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _plan(build(*_sentinels(args)), _sentinels(args))
    params = list(plan.params)
    for position, index in plan.slots:
        params[position] = args[index]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        rows = cursor.fetchall()
    if plan.converters:
        rows = plan.compiler.apply_converters(rows, plan.converters)
    out = []
    for row in rows:
        obj = plan.model.from_db(using, plan.init_list, row[plan.start : plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        for name, position in plan.annotations.items():
            setattr(obj, name, row[position])
        out.append(obj)
    return out
