"""The REST API (`/api/v1`): one NinjaAPI, a router per domain, errors as `{"code", "message", "details"}`.

Authentication: a bearer token (`kesu.org.models.ApiToken`) or the web session (CSRF for unsafe
methods); see `kesu.api.auth`. Every error, including unknown URLs, malformed JSON and unexpected
failures, is answered as JSON with an HTTP status and a stable `code`.
"""

from __future__ import annotations

import json
import logging
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.parser import Parser

from kesu.api.analytics import router as analytics_router
from kesu.api.auth import API_AUTH
from kesu.api.cases import router as cases_router
from kesu.api.insight import router as insight_router
from kesu.api.intake import router as intake_router
from kesu.api.org import router as org_router
from kesu.api.policy import router as policy_router
from kesu.api.sla import router as sla_router
from kesu.api.trust import router as trust_router
from kesu.cases.storable import unstorable_text
from kesu.errors import DomainError, Invalid

log = logging.getLogger("kesu.api")


class MalformedJSON(ValueError):
    pass


class UnsupportedMediaType(ValueError):
    pass


def _is_json_media_type(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


class KesuParser(Parser):
    """JSON bodies must be declared as JSON (else 415 `unsupported_media_type`) and decode as UTF-8
    JSON of storable text; anything else is `malformed_json` (400). Query strings must hold storable
    text too (422)."""

    def parse_body(self, request: HttpRequest) -> Any:
        # A body sent as text/plain or without a Content-Type is a client that does not speak JSON
        # (or a cross-site form post trying to avoid a CORS preflight): refuse rather than guess.
        content_type = request.content_type or ""
        charset = (request.content_params or {}).get("charset", "utf-8").lower().replace("_", "-")
        if not _is_json_media_type(content_type) or charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(request.META.get("CONTENT_TYPE", ""))
        try:
            # Strict UTF-8 (RFC 8259): json.loads(bytes) would also guess UTF-16/32 and skip a BOM,
            # while json.loads(str) refuses a leading BOM.
            data = json.loads(request.body.decode("utf-8"))
        except RequestDataTooBig:
            raise
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise MalformedJSON(str(exc)) from exc
        problem = unstorable_text(data)
        if problem:
            raise MalformedJSON(problem)
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> Any:
        # A NUL in a filter makes SQLite's LIKE match everything and PostgreSQL refuse the query.
        for key, values in data.lists():
            for value in (key, *values):
                if isinstance(value, str) and unstorable_text(value):
                    raise Invalid(_("参数含有无法处理的字符"), details={key: _("含有 NUL 等无法处理的字符")})
        return super().parse_querydict(data, list_fields, request)


class KesuAPI(NinjaAPI):
    """NinjaAPI whose URL views answer a wrong HTTP method with a JSON 405 like every other error."""

    @property
    def urls(self) -> tuple[list[Any], str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if hasattr(pattern, "callback"):
                pattern.callback = _json_405(pattern.callback)
        return patterns, app_name, namespace


def _json_405(view: Any) -> Any:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Path parameters bypass the parser: a NUL in `/cases/<number>` would reach the database.
        bad = [name for name, value in kwargs.items() if isinstance(value, str) and unstorable_text(value)]
        if bad:
            return error_response(
                422,
                "validation_error",
                _("参数含有无法处理的字符"),
                {name: _("含有 NUL 等无法处理的字符") for name in bad},
            )
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allowed = response.get("Allow", "")
            response = error_response(405, "method_not_allowed", "不支持该请求方法", {"allowed": allowed})
            response["Allow"] = allowed
        return response

    return wrapped


api = KesuAPI(
    title="Kesu 客诉 API",
    version="1",
    description="客诉管理系统 REST API。认证：`Authorization: Bearer <令牌>` 或网页会话（写操作需 CSRF）。"
    '错误统一为 HTTP 状态码 + `{"code", "message", "details"}`。',
    urls_namespace="api",
    auth=API_AUTH,
    parser=KesuParser(),
)

api.add_router("/cases", cases_router)
api.add_router("/org", org_router)
api.add_router("/policy", policy_router)
api.add_router("/sla", sla_router)
api.add_router("/intake", intake_router)
api.add_router("/analytics", analytics_router)
api.add_router("/insight", insight_router)
api.add_router("/trust", trust_router)  # reveal of masked personal data, audit log, TOTP (issue 8)


# --- errors ---------------------------------------------------------------------------------------


def error_response(status: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": str(message), "details": details},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _loc_name(loc: list[Any] | tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    # ninja reports ["body", "<param>", "field", ...], ["query", "field"], ["path", "field"] ...
    if parts and parts[0] in {"body", "form", "file"} and len(parts) > 2:
        parts = parts[2:]
    elif (
        parts and parts[0] in {"query", "path", "header", "cookie", "body", "form", "file"} and len(parts) > 1
    ):
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details: dict[str, str] = {}
    for err in exc.errors:
        details.setdefault(_loc_name(err.get("loc", ())), str(err.get("msg", "无效")))
    message = "请求内容有误：" + "；".join(f"{k} {v}" for k, v in details.items())
    return error_response(422, "validation_error", message, details)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(401, "not_authenticated", "请先登录或提供有效的 API 令牌")
    response["WWW-Authenticate"] = 'Bearer realm="kesu"'
    return response


@api.exception_handler(AuthorizationError)
def _unauthorized(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return error_response(403, "forbidden", "无权执行此操作")


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(403, "forbidden", str(exc) or "无权执行此操作")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, RequestDataTooBig):
        return error_response(413, "payload_too_large", "请求内容过大")
    if isinstance(cause, MalformedJSON):
        return error_response(400, "malformed_json", "请求体不是有效的 JSON", {"error": str(cause)})
    if isinstance(cause, UnsupportedMediaType):
        return error_response(
            415,
            "unsupported_media_type",
            _("请求体须为 JSON（Content-Type: application/json，UTF-8 编码）"),
            {"content_type": str(cause)},
        )
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(400, "malformed_body", "无法解析请求体")
    codes = {
        400: "bad_request",
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
    }
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(413, "payload_too_large", "请求内容过大")


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    # No boundary, a cut body, or part headers over Django's limit (e.g. a 10,000-character file name).
    return error_response(400, "malformed_body", _("无法解析 multipart 请求体"), {"error": str(exc)})


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return error_response(400, "bad_request", "请求无效")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "资源不存在")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("unexpected API error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "服务器内部错误，请稍后重试")


@csrf_exempt
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all for unknown URLs under /api/ (mounted after the API in kesu/urls.py)."""
    return error_response(404, "not_found", "接口不存在", {"path": request.path})
