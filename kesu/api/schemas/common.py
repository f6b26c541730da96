"""What every router's schemas share: business instants, the strict request base, the error body."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, ConfigDict

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


class In(Schema):
    """Base of request bodies: unknown fields are refused (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    code: str
    message: str
    details: Any = None
