"""Domain errors. The API maps each to an HTTP status and `{"code", "message", "details"}`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class IllegalTransition(DomainError):
    status = 409
    code = "illegal_transition"


class VersionConflict(DomainError):
    status = 409
    code = "version_conflict"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Input that cannot be accepted; `details` maps field names to reasons."""

    status = 422
    code = "validation_error"
