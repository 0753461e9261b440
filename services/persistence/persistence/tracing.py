"""OpenTelemetry tracing of the persistence service (``llmchat_bus.tracing``), off unless
``OTEL_TRACES_EXPORTER`` names an exporter.

Each consumed lifecycle event and each request-reply request is handled inside a span
whose parent is the context its message headers carry (``contracts.tracing``): a chat's
stored messages join the chat's trace.
"""

from __future__ import annotations

from llmchat_bus.tracing import ServiceTracing


class PersistenceTracing(ServiceTracing):
    tracer_name = "persistence"
