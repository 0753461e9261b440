"""OpenTelemetry tracing of the worker, off unless ``OTEL_TRACES_EXPORTER`` names an
exporter (then: a provider of the worker's own, batch export; the OTLP exporter reads
``OTEL_EXPORTER_OTLP_*`` itself).

One span per generation, ``chat <model>``, a child of the api's span: the request
subscriber makes the context carried by the request's headers current
(``contracts.tracing``) before the request is taken, ``start_generation`` opens the span
in it, and the generation's task runs inside the span, so its lifecycle events carry the
span's context to their consumers. The span ends with the generation, with GenAI
attributes (model, usage, finish reason) and a ``first_token`` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from inference_worker.generation import Generation

if TYPE_CHECKING:
    from inference_worker.settings import WorkerSettings

_NOT_ERRORS = frozenset({"stop", "length", "cancelled"})


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


class WorkerTracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("inference_worker")

    @classmethod
    def with_processor(cls, processor: SpanProcessor, service_name: str) -> WorkerTracing:
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}), shutdown_on_exit=False
        )
        provider.add_span_processor(processor)
        return cls(provider)

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> WorkerTracing | None:
        """None when ``OTEL_TRACES_EXPORTER`` is unset or ``none``."""
        if settings.otel_traces_exporter == "none":
            return None
        exporter = span_exporter(
            settings.otel_traces_exporter, settings.otel_exporter_otlp_protocol
        )
        return cls.with_processor(BatchSpanProcessor(exporter), settings.otel_service_name)

    def start_generation(self, generation: Generation) -> Span:
        """The generation's span, a child of the current context (the request's)."""
        request = generation.request
        return self.tracer.start_span(
            f"chat {request.model}",
            kind=SpanKind.CONSUMER,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": request.model,
                "llmchat.request_id": request.request_id,
                "llmchat.user_id": request.user_id,
            },
        )

    def run(
        self, generation: Generation, launch: Callable[[], asyncio.Task[None]]
    ) -> asyncio.Task[None]:
        """``launch`` the generation's task inside its span; the span ends with the task."""
        span = self.start_generation(generation)
        with trace.use_span(span, end_on_exit=False):
            task = launch()
        task.add_done_callback(lambda _task: self.finished(span, generation))
        return task

    def finished(self, span: Span, generation: Generation) -> None:
        outcome = generation.outcome or "unknown"
        span.set_attribute("llmchat.outcome", outcome)
        if outcome in ("stop", "length"):
            span.set_attribute("gen_ai.response.finish_reasons", (outcome,))
        usage = generation.usage
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        if generation.first_token_at:
            span.add_event("first_token", timestamp=int(generation.first_token_at * 1e9))
        if outcome not in _NOT_ERRORS:
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()
