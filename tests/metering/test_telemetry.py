"""The metering service's metrics (the consumer's tallies, usage queries) and spans (one
per event of a batch, each in its own event's trace)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

from contracts.tracing import inject_trace_context
from metering.metrics import MeteringMetrics
from metering.settings import SettingsError, load_settings
from metering.subscribers.events import EventSubscriber
from metering.tracing import MeteringTracing, batch_spans


class HeaderMsg:
    def __init__(self, subject: str, headers: dict[str, str] | None) -> None:
        self.subject = subject
        self.headers = headers


def test_consumer_tallies_are_exported() -> None:
    events = EventSubscriber(cast(Any, None), cast(Any, None))
    events.recorded, events.duplicates, events.terminated = 5, 2, 1
    metrics = MeteringMetrics()
    metrics.watch_events(events)
    metrics.rpc("metering.v1.usage.summary", 0.01)
    value = metrics.registry.get_sample_value
    assert value("llmchat_metering_events_total", {"outcome": "recorded"}) == 5
    assert value("llmchat_metering_events_total", {"outcome": "duplicate"}) == 2
    assert value("llmchat_metering_events_total", {"outcome": "malformed"}) == 1
    labels = {"subject": "metering.v1.usage.summary"}
    assert value("llmchat_metering_rpc_requests_total", labels) == 1
    assert value("llmchat_metering_rpc_duration_seconds_count", labels) == 1


def test_each_event_of_a_batch_continues_its_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = MeteringTracing.with_processor(SimpleSpanProcessor(exporter), "metering")
    publisher = TracerProvider().get_tracer("worker")
    parents: list[SpanContext] = []
    msgs: list[HeaderMsg] = []
    for kind in ("accepted", "completed"):
        with publisher.start_as_current_span(kind) as parent:
            headers: dict[str, str] = {}
            inject_trace_context(headers)
        parents.append(parent.get_span_context())
        msgs.append(HeaderMsg(f"chat.events.v1.{kind}", headers))
    msgs.append(HeaderMsg("chat.events.v1.failed", None))  # published without tracing
    with batch_spans(tracing, cast(list[Msg], msgs)):
        assert exporter.get_finished_spans() == ()
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [f"record {m.subject}" for m in msgs]
    for span, expected in zip(spans, parents, strict=False):
        assert span.context is not None
        assert span.context.trace_id == expected.trace_id
        assert span.parent is not None
        assert span.parent.span_id == expected.span_id
    assert spans[2].parent is None  # a trace of its own
    assert spans[0].attributes is not None
    assert spans[0].attributes["messaging.system"] == "nats"
    assert spans[0].attributes["messaging.destination.name"] == "chat.events.v1.accepted"
    assert spans[0].attributes["messaging.operation.type"] == "process"
    assert spans[0].attributes["messaging.batch.message_count"] == 3


def test_settings_read_the_observability_variables() -> None:
    settings = load_settings({"METERING_METRICS_PORT": "9402"})
    assert (settings.metrics_port, settings.metrics_host) == (9402, "127.0.0.1")
    assert MeteringTracing.from_settings(settings) is None
    assert load_settings({}).metrics_port == 0
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER"):
        load_settings({"OTEL_TRACES_EXPORTER": "jaeger"})
