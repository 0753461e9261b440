"""OpenTelemetry tracing of a service, off unless ``OTEL_TRACES_EXPORTER`` names an
exporter (then: a provider of the service's own, batch export; the OTLP exporter reads
``OTEL_EXPORTER_OTLP_*`` itself).

A service subclasses ``ServiceTracing`` to name its tracer. What an instrumentation
package covers is traced by it, over the service's provider: the RPC server's requests
(FastStream's NATS middleware, ``rpc_middlewares``), the SQLAlchemy engines
(``llmchat_sql.database``), the api's HTTP requests and Redis client. ``message_span`` is
hand-made for what none covers, the JetStream consumers on nats-py: it handles one
message inside a span whose parent is the context its headers carry
(``contracts.tracing``), so the work joins the caller's trace.

Attributes follow the stable HTTP and database semantic conventions
(``OTEL_SEMCONV_STABILITY_OPT_IN`` defaults to ``http,database`` once tracing is on, as
the api's spans carried before the instrumentation packages) and the messaging ones
(``messaging.system`` ``nats``, ``messaging.destination.name``,
``messaging.operation.type``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, Self

from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_P,
    GEN_AI_SYSTEM,
)
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_DESTINATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
)
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from contracts.inference import ChatRequest
from contracts.tracing import extract_trace_context

SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
"""Read by the instrumentation packages once per process, when the first one starts."""


def prefer_stable_semconv() -> None:
    """Have the instrumentation packages write the stable HTTP and database attributes
    (``http.response.status_code``, ``db.system.name``, ...) instead of the old ones,
    unless the operator chose otherwise. Called before any package is set up (they read
    the variable once per process)."""
    os.environ.setdefault(SEMCONV_OPT_IN, "http,database")


def messaging_attributes(subject: str, operation: str = "process") -> dict[str, str]:
    """The messaging semantic-convention attributes of a span handling a NATS message."""
    return {
        MESSAGING_SYSTEM: "nats",
        MESSAGING_DESTINATION_NAME: subject,
        MESSAGING_OPERATION_TYPE: operation,
    }


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
        prefer_stable_semconv()
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


def rpc_middlewares(tracing: ServiceTracing | None) -> Sequence[Any]:
    """The RPC broker's middlewares: FastStream's OpenTelemetry one when tracing is on (a
    ``<subject> process`` consumer span per request, continuing the caller's
    ``traceparent``, with messaging.* attributes), none when off (no cost per request)."""
    if tracing is None:
        return ()
    return (NatsTelemetryMiddleware(tracer_provider=tracing.provider),)


@contextmanager
def message_span(
    tracing: ServiceTracing | None, name: str, msg: Msg, kind: SpanKind
) -> Iterator[Span | None]:
    """Handle ``msg`` inside a span continuing the trace its headers carry (nothing when
    tracing is off). Hand-made: no instrumentation package covers nats-py's JetStream
    consumers."""
    if tracing is None:
        yield None
        return
    with tracing.tracer.start_as_current_span(
        name,
        context=extract_trace_context(msg.headers),
        kind=kind,
        attributes=messaging_attributes(msg.subject),
    ) as span:
        yield span


GEN_AI_SYSTEM_VLLM = "vllm"
"""``gen_ai.system`` and its successor ``gen_ai.provider.name`` (vLLM has no listed value)."""


def gen_ai_request_attributes(request: ChatRequest) -> dict[str, AttributeValue]:
    """The GenAI attributes of what was asked: operation, system, model and the sampling
    settings the request sets (absent ones are the profile's defaults, not recorded)."""
    attributes: dict[str, AttributeValue] = {
        GEN_AI_OPERATION_NAME: "chat",
        GEN_AI_SYSTEM: GEN_AI_SYSTEM_VLLM,
        GEN_AI_PROVIDER_NAME: GEN_AI_SYSTEM_VLLM,
        GEN_AI_REQUEST_MODEL: request.model,
    }
    sampling = request.sampling
    if sampling.max_tokens is not None:
        attributes[GEN_AI_REQUEST_MAX_TOKENS] = sampling.max_tokens
    if sampling.temperature is not None:
        attributes[GEN_AI_REQUEST_TEMPERATURE] = sampling.temperature
    if sampling.top_p is not None:
        attributes[GEN_AI_REQUEST_TOP_P] = sampling.top_p
    return attributes
