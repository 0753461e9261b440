"""OpenTelemetry tracing of the metering service, off unless ``OTEL_TRACES_EXPORTER``
names an exporter (then: a provider of the service's own, batch export; the OTLP exporter
reads ``OTEL_EXPORTER_OTLP_*`` itself).

Events are recorded a batch at a time: each event of a batch gets its own span, a child of
the context its headers carry (``contracts.tracing``), covering the batch's recording, so
every chat's trace shows its usage being recorded. A usage query is handled inside a span
continuing the caller's trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from nats.aio.msg import Msg
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Tracer

from contracts.tracing import extract_trace_context

if TYPE_CHECKING:
    from metering.settings import MeteringSettings


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


class MeteringTracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("metering")

    @classmethod
    def with_processor(cls, processor: SpanProcessor, service_name: str) -> MeteringTracing:
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), shutdown_on_exit=False
        )
        provider.add_span_processor(processor)
        return cls(provider)

    @classmethod
    def from_settings(cls, settings: MeteringSettings) -> MeteringTracing | None:
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
def batch_spans(tracing: MeteringTracing | None, msgs: Sequence[Msg]) -> Iterator[None]:
    """One span per message of a batch, each continuing its message's trace, open while
    the batch is recorded (nothing when tracing is off)."""
    if tracing is None:
        yield
        return
    spans = [
        tracing.tracer.start_span(
            f"record {msg.subject}",
            context=extract_trace_context(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.batch.message_count": len(msgs)},
        )
        for msg in msgs
    ]
    try:
        yield
    finally:
        for span in spans:
            span.end()


@contextmanager
def message_span(
    tracing: MeteringTracing | None, name: str, msg: Msg, kind: SpanKind = SpanKind.SERVER
) -> Iterator[Span | None]:
    """Handle ``msg`` inside a span continuing its trace (nothing when tracing is off)."""
    if tracing is None:
        yield None
        return
    with tracing.tracer.start_as_current_span(
        name, context=extract_trace_context(msg.headers), kind=kind
    ) as span:
        yield span
