"""The persistence service's metrics (events by kind / outcome, database errors, rpc by
subject / outcome) and its consumer spans (children of the context in the headers)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.exc import OperationalError

from contracts.accounts import GetUser
from contracts.codec import encode
from contracts.tracing import inject_trace_context
from persistence.messages import MessageRecorder
from persistence.metrics import PersistenceMetrics
from persistence.settings import SettingsError, load_settings
from persistence.subscribers.events import EventSubscriber
from persistence.subscribers.rpc import OK, answer_with_outcome
from persistence.tracing import PersistenceTracing
from tests.persistence import events_factory as ev
from tests.persistence.subscribers.test_events import FakeMsg, FlakyRecorder
from tests.persistence.subscribers.test_rpc import USER, route


class TracedMsg(FakeMsg):
    def __init__(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        super().__init__(data)
        self.headers = headers


def subscriber(
    recorder: FlakyRecorder,
    metrics: PersistenceMetrics | None = None,
    tracing: PersistenceTracing | None = None,
) -> EventSubscriber:
    return EventSubscriber(
        cast(Any, None),
        cast(MessageRecorder, recorder),
        retry_max_s=0.05,
        poll_s=0.1,
        metrics=metrics,
        tracing=tracing,
    )


async def test_events_are_counted_by_kind_and_outcome() -> None:
    metrics = PersistenceMetrics()
    sub = subscriber(FlakyRecorder(2), metrics)
    await sub.on_event(cast(Msg, FakeMsg(encode(ev.accepted("r1", "c1", "u1")))))
    await sub.on_event(cast(Msg, FakeMsg(b"not json")))
    value = metrics.registry.get_sample_value
    assert value("llmchat_persistence_events_total", {"kind": "accepted", "outcome": "stored"}) == 1
    assert (
        value("llmchat_persistence_events_total", {"kind": "unknown", "outcome": "malformed"}) == 1
    )
    assert value("llmchat_persistence_db_errors_total", {"operation": "events"}) == 2


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (USER, OK),
        (OperationalError("x", {}, OSError("down")), "service_unavailable"),
        (RuntimeError("bug"), "internal_error"),
    ],
)
async def test_rpc_outcomes(result: object, outcome: str) -> None:
    _, got = await answer_with_outcome(route(result), encode(GetUser(user_id="u")))
    assert got == outcome
    _, malformed = await answer_with_outcome(route(USER), b"[]")
    assert malformed == "invalid_request"


def test_rpc_metrics() -> None:
    metrics = PersistenceMetrics()
    metrics.rpc("persistence.v1.accounts.get", OK, 0.002)
    value = metrics.registry.get_sample_value
    labels = {"subject": "persistence.v1.accounts.get"}
    assert value("llmchat_persistence_rpc_requests_total", {**labels, "outcome": OK}) == 1
    assert value("llmchat_persistence_rpc_duration_seconds_count", labels) == 1


async def test_an_event_is_stored_inside_a_span_of_its_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = PersistenceTracing.with_processor(SimpleSpanProcessor(exporter), "persistence")
    publisher = TracerProvider().get_tracer("worker")
    with publisher.start_as_current_span("chat m") as parent:
        headers: dict[str, str] = {}
        inject_trace_context(headers)
    msg = TracedMsg(encode(ev.accepted("r1", "c1", "u1")), headers)
    await subscriber(FlakyRecorder(0), tracing=tracing).on_event(cast(Msg, msg))
    [span] = exporter.get_finished_spans()
    assert span.name == f"store {FakeMsg.subject}"
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.attributes is not None
    assert span.attributes["llmchat.outcome"] == "stored"
    assert span.attributes["messaging.system"] == "nats"
    assert span.attributes["messaging.destination.name"] == FakeMsg.subject
    assert span.attributes["messaging.operation.type"] == "process"


def test_settings_read_the_observability_variables() -> None:
    settings = load_settings({"PERSISTENCE_METRICS_PORT": "9401", "OTEL_TRACES_EXPORTER": "none"})
    assert (settings.metrics_port, settings.metrics_host) == (9401, "127.0.0.1")
    assert PersistenceTracing.from_settings(settings) is None
    assert load_settings({}).metrics_port == 0
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        load_settings({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
