"""``TelemetryMiddleware``: the outermost route middleware; per HTTP request it counts
the request and its latency (``ApiMetrics``) and, when tracing is on, runs the request in
a server span (continuing a ``traceparent`` the client sent).

The span is the current context while the handler runs, so the chat's NATS publishes
carry it (``contracts.tracing``) and the worker's generation span becomes its child. A
streamed response ends, and so is observed, when its last event is sent.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import ValidationException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from chat_api.telemetry.metrics import ApiMetrics
from chat_api.telemetry.tracing import ApiTracing
from contracts import subjects
from contracts.tracing import extract_trace_context

_TRACE_HEADERS = {
    subjects.TRACEPARENT_HEADER.encode(): subjects.TRACEPARENT_HEADER,
    subjects.TRACESTATE_HEADER.encode(): subjects.TRACESTATE_HEADER,
}


def status_of(exc: BaseException) -> int:
    """The status the app's exception handlers answer ``exc`` with (see ``errors.py``)."""
    if isinstance(exc, ValidationException):
        return 400
    status = getattr(exc, "status_code", 500)  # ApiError, HTTPException
    return status if isinstance(status, int) else 500


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
        status = 0
        span = None
        token = None
        if self.tracing is not None:
            span = self.tracing.tracer.start_span(
                f"{method} {route}",
                context=_remote_parent(scope),
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "http.route": route,
                    "url.path": scope["path"],
                },
            )
            token = otel_context.attach(trace.set_span_in_context(span))

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
            if self.metrics is not None:
                self.metrics.http_requests.labels(route, method, str(status or 500)).inc()
                self.metrics.http_duration.labels(route, method).observe(elapsed)
            if span is not None:
                _end_span(span, scope, status or 500)
            if token is not None:
                otel_context.detach(token)


def _remote_parent(scope: Scope) -> Any:
    """The context of a ``traceparent`` the client sent (None: a new trace)."""
    carrier = {
        _TRACE_HEADERS[name]: value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _TRACE_HEADERS
    }
    return extract_trace_context(carrier) if carrier else None


def _end_span(span: trace.Span, scope: Scope, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        span.set_attribute("llmchat.request_id", str(request_id))
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()
