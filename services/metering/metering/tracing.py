"""OpenTelemetry tracing of the metering service (``llmchat_bus.tracing``), off unless
``OTEL_TRACES_EXPORTER`` names an exporter.

Events are recorded a batch at a time: each event of a batch gets its own span, a child of
the context its headers carry (``contracts.tracing``), covering the batch's recording, so
every chat's trace shows its usage being recorded. A usage query is handled inside a span
continuing the caller's trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from nats.aio.msg import Msg
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_BATCH_MESSAGE_COUNT,
)
from opentelemetry.trace import SpanKind

from contracts.tracing import extract_trace_context
from llmchat_bus.tracing import ServiceTracing, messaging_attributes


class MeteringTracing(ServiceTracing):
    tracer_name = "metering"


@contextmanager
def batch_spans(tracing: MeteringTracing | None, msgs: Sequence[Msg]) -> Iterator[None]:
    """One span per message of a batch, each continuing its message's trace, open while
    the batch is recorded (nothing when tracing is off)."""
    # Hand-made: no instrumentation package covers nats-py's JetStream pull consumers.
    if tracing is None:
        yield
        return
    spans = [
        tracing.tracer.start_span(
            f"record {msg.subject}",
            context=extract_trace_context(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                **messaging_attributes(msg.subject),
                MESSAGING_BATCH_MESSAGE_COUNT: len(msgs),
            },
        )
        for msg in msgs
    ]
    try:
        yield
    finally:
        for span in spans:
            span.end()
