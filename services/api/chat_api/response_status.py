"""The status of the HTTP response going out, noted once in the scope state for the
middlewares that report it (the request log, the metrics): one wrapper of ``send`` for
both, as every wrapper costs a call per streamed chunk."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import ValidationException
from litestar.types import Scope

_STATUS_KEY = "response_status"


def note_response_status(scope: Scope, status: int) -> None:
    """Keep the status of the response going out, for the middlewares that report it."""
    state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    state[_STATUS_KEY] = status


def response_status(scope: Scope, exc: BaseException | None = None) -> int:
    """The status the response started with; else the one the app's exception handlers
    answer ``exc`` with; else 500."""
    status = scope.get("state", {}).get(_STATUS_KEY)
    if isinstance(status, int):
        return status
    if exc is None:
        return 500
    if isinstance(exc, ValidationException):
        return 400
    status = getattr(exc, "status_code", 500)  # ApiError, HTTPException
    return status if isinstance(status, int) else 500
