"""``TelemetryMiddleware``: the outermost route middleware; per HTTP request it counts
the request and its latency (``ApiMetrics``) and, when tracing is on, names the server
span by the matched route.

The server span itself is Litestar's OpenTelemetry plugin's (``ApiTracing.http_plugin``),
started before routing, so only here is the route known (``http.route``, and the name
``METHOD /route`` instead of the method alone). A streamed response ends, and so is
observed, when its last event is sent.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.exceptions import ValidationException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE

from chat_api.telemetry.metrics import ApiMetrics
from chat_api.telemetry.tracing import ApiTracing


def status_of(exc: BaseException) -> int:
    """The status the app's exception handlers answer ``exc`` with (see ``errors.py``)."""
    if isinstance(exc, ValidationException):
        return 400
    status = getattr(exc, "status_code", 500)  # ApiError, HTTPException
    return status if isinstance(status, int) else 500


def name_server_span(method: str, route: str) -> None:
    """Name the current span (the plugin's server span) by the route it matched."""
    span = trace.get_current_span()
    span.update_name(f"{method} {route}")
    span.set_attribute(HTTP_ROUTE, route)


class TelemetryMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: ApiMetrics | None = None, tracing: ApiTracing | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        route: str = scope.get("path_template") or "unmatched"
        method: str = scope["method"]
        if self.tracing is not None:
            name_server_span(method, route)
        if self.metrics is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        except BaseException as exc:
            status = status or status_of(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.http_requests.labels(route, method, str(status or 500)).inc()
            self.metrics.http_duration.labels(route, method).observe(elapsed)
