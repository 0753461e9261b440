"""What the outermost middleware (the request log) notes of each HTTP exchange in the
scope state: when the request arrived (a chat's time to first token counts from there),
and the status of the response going out, for the middlewares that report it (the request
log, the metrics): one wrapper of ``send`` for both, as every wrapper costs a call per
streamed chunk."""

from __future__ import annotations

import time
from typing import Any

from litestar.exceptions import ValidationException
from litestar.types import Scope

_STATUS_KEY = "response_status"
_ARRIVED_KEY = "arrived_ns"


def note_arrival(scope: Scope) -> None:
    state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    state[_ARRIVED_KEY] = time.time_ns()


def arrived_ns(scope: Scope) -> int | None:
    """When the request reached the app (``time.time_ns()``; None: not noted)."""
    arrived = scope.get("state", {}).get(_ARRIVED_KEY)
    return arrived if isinstance(arrived, int) else None


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
