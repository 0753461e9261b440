"""OpenTelemetry tracing of the worker (``llmchat_bus.tracing``), off unless
``OTEL_TRACES_EXPORTER`` names an exporter.

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

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from inference_worker.generation import Generation
from llmchat_bus.tracing import ServiceTracing

_NOT_ERRORS = frozenset({"stop", "length", "cancelled"})


class WorkerTracing(ServiceTracing):
    tracer_name = "inference_worker"

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
