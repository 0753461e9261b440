"""OpenTelemetry tracing of the worker (``llmchat_bus.tracing``), off unless
``OTEL_TRACES_EXPORTER`` names an exporter.

One span per generation, ``chat <model>``, a child of the api's span: the request
subscriber makes the context carried by the request's headers current
(``contracts.tracing``) before the request is taken, ``start_generation`` opens the span
in it, and the generation's task runs inside the span, so its lifecycle events carry the
span's context to their consumers. The span ends with the generation, with the GenAI
semantic-convention attributes (system, request model and sampling settings, usage,
finish reasons) and a ``first_token`` event. The span is hand-made: no instrumentation
package covers a generation on our engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from inference_worker.generation import Generation
from llmchat_bus.tracing import ServiceTracing, gen_ai_request_attributes

_NOT_ERRORS = frozenset({"stop", "length", "cancelled"})


class WorkerTracing(ServiceTracing):
    tracer_name = "inference_worker"

    def start_generation(self, generation: Generation) -> Span:
        """The generation's span, a child of the current context (the request's)."""
        # Hand-made: no instrumentation package covers a generation on our engine.
        request = generation.request
        return self.tracer.start_span(
            f"chat {request.model}",
            kind=SpanKind.CONSUMER,
            attributes={
                **gen_ai_request_attributes(request),
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
            span.set_attribute(GEN_AI_RESPONSE_FINISH_REASONS, (outcome,))
        usage = generation.usage
        if usage is not None:
            span.set_attribute(GEN_AI_USAGE_INPUT_TOKENS, usage.prompt_tokens)
            span.set_attribute(GEN_AI_USAGE_OUTPUT_TOKENS, usage.completion_tokens)
        if generation.first_token_at:
            span.add_event("first_token", timestamp=int(generation.first_token_at * 1e9))
        if outcome not in _NOT_ERRORS:
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()
