"""``TelemetryMiddleware``: the outermost route middleware; per HTTP request it counts
the request and its latency (``ApiMetrics``) and, when tracing is on, names the server
span by the matched route.

The server span itself is Litestar's OpenTelemetry plugin's (``ApiTracing.http_plugin``),
started before routing, so only here is the route known (``http.route``, and the name
``METHOD /route`` instead of the method alone). A streamed response ends, and so is
observed, when its last event is sent. The response's status is the one
``RequestLogMiddleware`` (outside this one) notes as the response starts: one wrapper of
``send`` for both, as every wrapper costs a call per streamed chunk.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE

from chat_api.http_exchange import response_status
from chat_api.telemetry.metrics import ApiMetrics
from chat_api.telemetry.tracing import ApiTracing


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
        failure: BaseException | None = None
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            status = response_status(scope, failure)
            self.metrics.http_requests.labels(route, method, str(status)).inc()
            self.metrics.http_duration.labels(route, method).observe(elapsed)
