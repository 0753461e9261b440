"""Trace context on the bus: W3C Trace Context in NATS message headers.

A service that traces puts the current span's context on what it publishes
(``inject_trace_context``: the ``traceparent`` / ``tracestate`` headers named in
``contracts.subjects``) and continues the trace from what it receives
(``extract_trace_context``), so one chat is one trace: the api's HTTP span, the worker's
generation span, the consumers' spans. Only the headers are the contract; how a service
exports its spans (OTLP, ...) is its own business. Both functions are cheap, but services
call them only when their tracing is on, so tracing off costs nothing on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def inject_trace_context(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Add ``traceparent`` (and ``tracestate``) of ``context`` (default: the current one)
    to ``headers``; nothing when there is no valid span."""
    _PROPAGATOR.inject(headers, context)


def extract_trace_context(headers: Mapping[str, str] | None) -> Context:
    """The remote parent carried by a message's headers (an empty context if none)."""
    return _PROPAGATOR.extract(headers or {})
