"""OpenTelemetry tracing of the api, off unless ``OTEL_TRACES_EXPORTER`` names an exporter.

Off (unset or ``none``): ``ApiTracing.from_settings`` returns None, no SDK object exists,
no middleware span is started and nothing is injected into NATS headers. On: a
``TracerProvider`` of the api's own (not the global one) with a batch processor and the
exporter named by the variable; the OTLP exporter reads its standard variables itself
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS``, ``..._TIMEOUT``), the batch processor
``OTEL_BSP_*``, the sampler ``OTEL_TRACES_SAMPLER`` / ``..._ARG``, the resource
``OTEL_RESOURCE_ATTRIBUTES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from chat_api.settings import ApiSettings

TRACING_KEY = "tracing"
"""App state key of the ``ApiTracing`` (absent / None: tracing off)."""

EXPORTERS = ("none", "otlp", "console")
OTLP_PROTOCOLS = ("http/protobuf", "grpc")


def span_exporter(exporter: str, protocol: str) -> SpanExporter:
    """The exporter ``OTEL_TRACES_EXPORTER`` names (``otlp`` over ``protocol``, or
    ``console``)."""
    if exporter == "console":
        return ConsoleSpanExporter()
    if exporter != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r}: expected one of {EXPORTERS}")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter as GrpcSpanExporter,
        )

        exporter_cls: type[SpanExporter] = GrpcSpanExporter
        return exporter_cls()
    if protocol != "http/protobuf":
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected one of {OTLP_PROTOCOLS}"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class ApiTracing:
    """The api's tracer over its own provider; ``shutdown`` flushes the spans."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("chat_api")

    @classmethod
    def with_processor(cls, processor: SpanProcessor, service_name: str) -> ApiTracing:
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), shutdown_on_exit=False
        )
        provider.add_span_processor(processor)
        return cls(provider)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> ApiTracing | None:
        """None when ``OTEL_TRACES_EXPORTER`` is unset or ``none``."""
        if settings.otel_traces_exporter in ("", "none"):
            return None
        exporter = span_exporter(
            settings.otel_traces_exporter, settings.otel_exporter_otlp_protocol
        )
        return cls.with_processor(BatchSpanProcessor(exporter), settings.otel_service_name)

    def shutdown(self) -> None:
        self.provider.shutdown()
