"""OpenTelemetry tracing of the api, off unless ``OTEL_TRACES_EXPORTER`` names an exporter.

Off (unset or ``none``): ``ApiTracing.from_settings`` returns None, no SDK object exists,
no HTTP middleware or instrumentation is installed and nothing is injected into NATS
headers. On: a ``TracerProvider`` of the api's own (``llmchat_bus.tracing``) with a batch
processor and the exporter named by the variable (the OTLP exporter reads its standard
variables itself: ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS``, ``..._TIMEOUT``; the
batch processor ``OTEL_BSP_*``, the sampler ``OTEL_TRACES_SAMPLER`` / ``..._ARG``, the
resource ``OTEL_RESOURCE_ATTRIBUTES``), and on it:

- HTTP: Litestar's OpenTelemetry plugin (opentelemetry-instrumentation-asgi), a server
  span per request continuing a client's ``traceparent``, current while the handler runs
  so the chat's NATS messages carry it; ``TelemetryMiddleware`` names it by its route;
- Redis: the rate-limit store's client (``chat_api.limits.redis_store``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from litestar.enums import ScopeType
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span

from llmchat_bus.tracing import ServiceTracing, TracingSettings, span_exporter

if TYPE_CHECKING:
    from litestar.types import Scope

TRACING_KEY = "tracing"
"""App state key of the ``ApiTracing`` (absent / None: tracing off)."""

REQUEST_ID_ATTRIBUTE = "llmchat.request_id"

EXPORTERS = ("none", "otlp", "console")
OTLP_PROTOCOLS = ("http/protobuf", "grpc")


def _checked(exporter: str, protocol: str) -> None:
    if exporter not in EXPORTERS:
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r}: expected one of {EXPORTERS}")
    if exporter == "otlp" and protocol not in OTLP_PROTOCOLS:
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected one of {OTLP_PROTOCOLS}"
        )


def _method_only(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The server span's first name: the method. Litestar's default names it by the raw
    path (one name per id in it); the route is known only after routing, where
    ``TelemetryMiddleware`` renames the span. A request matching no route keeps this
    name, as the HTTP conventions say."""
    return str(scope.get("method", "HTTP")), {}


class ApiTracing(ServiceTracing):
    """The api's tracer over its own provider; ``shutdown`` flushes the spans."""

    tracer_name = "chat_api"

    @classmethod
    def from_settings(cls, settings: TracingSettings) -> Self | None:
        """None when ``OTEL_TRACES_EXPORTER`` is unset or ``none``."""
        exporter, protocol = settings.otel_traces_exporter, settings.otel_exporter_otlp_protocol
        if exporter in ("", "none"):
            return None
        _checked(exporter, protocol)
        processor = BatchSpanProcessor(span_exporter(exporter, protocol))
        return cls.with_processor(processor, settings.otel_service_name)

    def http_plugin(self, request_id: Callable[[Scope], str]) -> OpenTelemetryPlugin:
        """Litestar's OpenTelemetry plugin on this provider: one server span per HTTP
        request (no spans of its own for each ASGI receive / send: a streamed chat sends
        one message per token), carrying the request's ``request_id``."""

        def describe_request(span: Span, scope: dict[str, Any]) -> None:
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id(scope))  # type: ignore[arg-type]

        return OpenTelemetryPlugin(
            OpenTelemetryConfig(
                tracer_provider=self.provider,
                scopes={ScopeType.HTTP},
                exclude_spans=["receive", "send"],
                scope_span_details_extractor=_method_only,
                server_request_hook_handler=describe_request,
            )
        )
