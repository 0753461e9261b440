"""``RpcServer`` with tracing on, over a real nats-server and the real ``RpcClient``: each
request is handled in FastStream's consumer span, a child of the caller's span (the
``traceparent`` the client sends), with the messaging attributes and our outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.aio.client import Client as NatsClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmchat_bus.rpc import OK, RpcServer, route
from llmchat_bus.rpc_client import RpcClient
from llmchat_bus.tracing import ServiceTracing

pytestmark = pytest.mark.nats

SUBJECT = "test.v1.rpc.traced"


class Question(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    text: str


async def answer(request: Question) -> Answer:
    return Answer(text=request.text.upper())


class Tracing(ServiceTracing):
    tracer_name = "tests.rpc_tracing"


@pytest.fixture
async def spans(nats_client: NatsClient) -> AsyncIterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_processor(SimpleSpanProcessor(exporter), "tests")
    server = RpcServer(
        nats_client, [route(SUBJECT, Question, answer)], queue="t", concurrency=2, tracing=tracing
    )
    await server.start()
    yield exporter
    await server.stop(1.0)
    tracing.shutdown()


async def test_the_request_span_is_a_child_of_the_callers(
    nats_client: NatsClient, spans: InMemorySpanExporter
) -> None:
    client = RpcClient(nats_client, "tests", 5.0, propagate_trace=True)
    caller = TracerProvider().get_tracer("caller")
    with caller.start_as_current_span("caller") as parent:
        assert await client.call(SUBJECT, Question(text="hi"), Answer) == Answer(text="HI")
    [span] = spans.get_finished_spans()
    assert span.name == f"{SUBJECT} process"
    assert span.kind == SpanKind.CONSUMER
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.attributes is not None
    assert span.attributes["llmchat.outcome"] == OK
    assert span.attributes["messaging.system"] == "nats"
    assert span.attributes["messaging.destination.name"] == SUBJECT
    assert span.attributes["messaging.operation.type"] == "process"
