"""One error body for every failure the api returns, and the one map that builds it.

Body: ``{"error": {"code", "message", "type", "param", "request_id"}}``. ``code`` is an
``ErrorCode`` value; ``type`` / ``param`` make the body what the OpenAI client expects.
Every response (errors included) carries ``X-Request-ID`` (see ``request_id_of``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Message, Scope

from chat_api.telemetry.metrics import count_error
from contracts.errors import ErrorCode

log = logging.getLogger("chat_api.errors")

REQUEST_ID_HEADER = "X-Request-ID"
_STATE_KEY = "request_id"


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_of(scope: Scope) -> str:
    """The id of this HTTP request, created on first use and kept in the scope state."""
    state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    request_id = state.get(_STATE_KEY)
    if request_id is None:
        request_id = new_request_id()
        state[_STATE_KEY] = request_id
    return str(request_id)


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every response start gets ``X-Request-ID``."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers") or [])
        headers.append((b"x-request-id", request_id_of(scope).encode()))
        message["headers"] = headers


class ApiError(Exception):
    """A domain failure with its HTTP status and wire code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.param = param


# HTTP status of a stream failure reported before any byte is sent (non-stream answers).
STATUS_OF_CODE: dict[str, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.CONTEXT_TOO_LONG: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.CANCELLED: 409,
    ErrorCode.ENGINE_ERROR: 502,
    ErrorCode.WORKER_LOST: 502,
    ErrorCode.STREAM_INTERRUPTED: 502,
    ErrorCode.STREAM_EXPIRED: 410,
    ErrorCode.MODEL_UNAVAILABLE: 503,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.SHUTTING_DOWN: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.MODEL_OVERLOADED: 503,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.CONTENT_BLOCKED: 400,
}

_CODE_OF_STATUS: dict[int, ErrorCode] = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_REQUEST,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.REQUEST_TOO_LARGE,
    431: ErrorCode.REQUEST_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.MODEL_UNAVAILABLE,
    504: ErrorCode.TIMEOUT,
}


def _openai_type(status_code: int) -> str:
    if status_code == 401:
        return "authentication_error"
    if status_code == 403:
        return "permission_error"
    if status_code == 404:
        return "not_found_error"
    if status_code == 429:
        return "rate_limit_error"
    if status_code >= 500:
        return "server_error"
    return "invalid_request_error"


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    type: str
    param: str | None
    request_id: str


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


def error_response(
    scope: Scope,
    status_code: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> Response[ErrorBody]:
    count_error(scope, code)
    body = ErrorBody(
        error=ErrorDetail(
            code=code,
            message=message,
            type=_openai_type(status_code),
            param=param,
            request_id=request_id_of(scope),
        )
    )
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


def _validation_message(exc: ValidationException) -> tuple[str, str | None]:
    extra = exc.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict):
            message = str(first.get("message") or exc.detail)
            key = first.get("key")
            if key:
                return f"{key}: {message}", str(key)
            return message, None
    if isinstance(extra, dict) and extra.get("message"):
        return str(extra["message"]), None
    return str(exc.detail), None


def handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorBody]:
    return error_response(
        request.scope, exc.status_code, exc.code, exc.message, exc.headers, exc.param
    )


def handle_http_exception(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[ErrorBody]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, ValidationException):
        message, param = _validation_message(exc)
        return error_response(
            request.scope, 400, ErrorCode.INVALID_REQUEST, message, headers, param
        )
    if status >= 500:
        log.error(
            "http error %s on %s %s: %s", status, request.method, request.url.path, exc.detail
        )
        code = _CODE_OF_STATUS.get(status, ErrorCode.INTERNAL)
        return error_response(
            request.scope,
            status,
            code,
            "internal error" if code == ErrorCode.INTERNAL else exc.detail,
            headers,
        )
    code = _CODE_OF_STATUS.get(status, ErrorCode.INVALID_REQUEST)
    message = exc.detail
    if status == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return error_response(request.scope, status, code, message, headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception(
        "unhandled error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id_of(request.scope),
        exc_info=exc,
    )
    return error_response(request.scope, 500, ErrorCode.INTERNAL, "internal error")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
