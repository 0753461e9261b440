"""Observability of the api: Prometheus metrics (``GET /metrics``) and OpenTelemetry spans.

``ApiMetrics`` (one registry per app) and ``ApiTracing`` (None unless
``OTEL_TRACES_EXPORTER`` names an exporter; its ``http_plugin`` is Litestar's OpenTelemetry
plugin) live on the app state; ``TelemetryMiddleware`` counts every HTTP request and names
its server span by route; a ``StreamObserver`` per chat, bound once, observes the stream
without any per-token work.
"""

from chat_api.telemetry.controllers import MetricsController
from chat_api.telemetry.metrics import METRICS_KEY, ApiMetrics, StreamObserver, count_error
from chat_api.telemetry.middleware import TelemetryMiddleware
from chat_api.telemetry.tracing import TRACING_KEY, ApiTracing

__all__ = [
    "METRICS_KEY",
    "TRACING_KEY",
    "ApiMetrics",
    "ApiTracing",
    "MetricsController",
    "StreamObserver",
    "TelemetryMiddleware",
    "count_error",
]
