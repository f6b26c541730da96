"""`insert_rows` (kesu.cases.storable) writes what `bulk_create` writes: the same stored values, the
primary keys set on the instances, in the instances' order."""

from __future__ import annotations

import copy

import pytest
from django.db import models

from kesu.cases.models import Case, CaseEvent
from kesu.cases.storable import insert_rows
from kesu.sla.models import StageDeadline
from tests import factories

pytestmark = pytest.mark.django_db


def _stored(model: type[models.Model], pk: int, skip: set[str]) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    return {k: v for k, v in row.items() if k not in skip}


def _copies(obj: models.Model, n: int, **unique) -> list[models.Model]:
    out = []
    for i in range(n):
        clone = copy.copy(obj)
        clone.__dict__ = copy.deepcopy({k: v for k, v in obj.__dict__.items() if k != "_state"})
        clone._state = type(obj._state)()
        clone.pk = None
        for name, make in unique.items():
            setattr(clone, name, make(i))
        out.append(clone)
    return out


@pytest.mark.parametrize("model", [Case, CaseEvent, StageDeadline])
def test_the_rows_are_those_bulk_create_writes(org, model):
    case = factories.make_case(org.intake, flags=["media"], claimed_amount="12.5")
    source = {
        Case: Case.objects.get(pk=case.pk),
        CaseEvent: CaseEvent.objects.filter(case=case).first(),
        StageDeadline: StageDeadline.objects.filter(case=case).first(),
    }[model]
    unique = {"number": lambda i: f"X{i}"} if model is Case else {}
    if model is CaseEvent:
        other = factories.make_case(org.intake)
        unique = {"case_id": lambda i: other.pk, "seq": lambda i: 2 + i}
    if model is StageDeadline:
        unique = {"ref": lambda i: f"a{i}"}
    mine, theirs = _copies(source, 3, **unique), _copies(source, 3, **unique)
    if model is Case:
        for i, obj in enumerate(theirs):
            obj.number = f"Y{i}"
    if model is CaseEvent:
        for i, obj in enumerate(theirs):
            obj.seq = 10 + i
    if model is StageDeadline:
        for i, obj in enumerate(theirs):
            obj.ref = f"b{i}"
    insert_rows(mine)
    model.objects.bulk_create(theirs)
    assert all(o.pk is not None and not o._state.adding for o in mine)
    assert [o.pk for o in mine] == sorted(o.pk for o in mine)  # in the instances' order
    skip = {"id", "number", "seq", "ref", "created_at", "updated_at", "registered_at"}
    for a, b in zip(mine, theirs, strict=True):
        assert _stored(model, a.pk, skip) == _stored(model, b.pk, skip)
