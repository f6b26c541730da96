"""What every router's schemas share: business instants, the strict request base, the error body."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, get_args

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, ValidationInfo, field_validator

Text = str
UserRef = int | str  # a user id or a username

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def business_instant(value: dt.datetime) -> dt.datetime:
    """An instant a complaint system can mean: 1970–2200, naive read as Beijing time, normalised to UTC.

    Without this a request could carry year 1 (date arithmetic overflows) or an offset such as
    +16:12 that Python accepts and PostgreSQL refuses — a 500 instead of a 422.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    if not 1970 <= value.year <= 2200 or abs(value.utcoffset() or dt.timedelta()) > dt.timedelta(hours=14):
        raise ValueError("时间超出合理范围（1970–2200 年，时区偏移不超过 ±14 小时）")
    return value.astimezone(dt.UTC)


Instant = Annotated[dt.datetime, AfterValidator(business_instant)]


def _admits_bool(annotation: Any) -> bool:
    return annotation is bool or any(_admits_bool(arg) for arg in get_args(annotation))


class In(Schema):
    """Base of request bodies: unknown fields are refused (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads `true` as 1 (`people_count: true` registered one person); a JSON
        # boolean is never a number, an ID or a text here unless the field is declared bool.
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) for v in items):
            field = cls.model_fields.get(info.field_name or "")
            if field is not None and not _admits_bool(field.annotation):
                raise ValueError(_("不能是布尔值"))
        return value


class ErrorOut(Schema):
    code: str
    message: str
    details: Any = None
