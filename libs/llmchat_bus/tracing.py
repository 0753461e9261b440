"""OpenTelemetry tracing of a service, off unless ``OTEL_TRACES_EXPORTER`` names an
exporter (then: a provider of the service's own, batch export; the OTLP exporter reads
``OTEL_EXPORTER_OTLP_*`` itself).

A service subclasses ``ServiceTracing`` to name its tracer; ``message_span`` handles one
NATS message inside a span whose parent is the context its headers carry
(``contracts.tracing``), so the work joins the caller's trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Protocol, Self

from nats.aio.msg import Msg
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Tracer

from contracts.tracing import extract_trace_context


class TracingSettings(Protocol):
    """The settings fields ``ServiceTracing.from_settings`` reads."""

    @property
    def otel_traces_exporter(self) -> str: ...
    @property
    def otel_exporter_otlp_protocol(self) -> str: ...
    @property
    def otel_service_name(self) -> str: ...


def span_exporter(exporter: str, protocol: str) -> SpanExporter:
    if exporter == "console":
        return ConsoleSpanExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter as GrpcSpanExporter,
        )

        exporter_cls: type[SpanExporter] = GrpcSpanExporter
        return exporter_cls()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class ServiceTracing:
    tracer_name: ClassVar[str]
    """The instrumentation scope of the service's spans (its package name)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(self.tracer_name)

    @classmethod
    def with_processor(cls, processor: SpanProcessor, service_name: str) -> Self:
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), shutdown_on_exit=False
        )
        provider.add_span_processor(processor)
        return cls(provider)

    @classmethod
    def from_settings(cls, settings: TracingSettings) -> Self | None:
        """None when ``OTEL_TRACES_EXPORTER`` is unset or ``none``."""
        if settings.otel_traces_exporter == "none":
            return None
        exporter = span_exporter(
            settings.otel_traces_exporter, settings.otel_exporter_otlp_protocol
        )
        return cls.with_processor(BatchSpanProcessor(exporter), settings.otel_service_name)

    def shutdown(self) -> None:
        self.provider.shutdown()


@contextmanager
def message_span(
    tracing: ServiceTracing | None, name: str, msg: Msg, kind: SpanKind
) -> Iterator[Span | None]:
    """Handle ``msg`` inside a span continuing the trace its headers carry (nothing when
    tracing is off)."""
    if tracing is None:
        yield None
        return
    with tracing.tracer.start_as_current_span(
        name, context=extract_trace_context(msg.headers), kind=kind
    ) as span:
        yield span
