"""``RpcServer`` in memory (FastStream's ``TestNatsBroker``): every outcome of a request
becomes its ``Reply``, counted by ``on_answered`` and traced in a span; the bound on
requests in hand is the service's, across its subjects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from faststream.nats import TestNatsBroker
from nats.aio.client import Client as NatsClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Ack, Ping, Reply
from llmchat_bus.rpc import OK, RequestRefused, RpcServer, ping_route, route
from llmchat_bus.tracing import ServiceTracing

SUBJECT = "test.v1.rpc.echo"


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    size: int = 0
    """Pad the answer to this many characters."""


class Echoed(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Outage(Exception):
    pass


async def echo(request: Echo) -> Echoed:
    if request.text == "refuse":
        raise RequestRefused(ErrorCode.NOT_FOUND, "no such thing")
    if request.text == "outage":
        raise Outage("database down")
    if request.text == "bug":
        raise RuntimeError("bug")
    return Echoed(text=request.text + "x" * request.size)


class Tracing(ServiceTracing):
    tracer_name = "tests.rpc"


class Served:
    def __init__(self) -> None:
        self.answered: list[tuple[str, str]] = []
        self.spans = InMemorySpanExporter()
        self.tracing = Tracing.with_processor(SimpleSpanProcessor(self.spans), "tests")
        self.server = RpcServer(
            NatsClient(),  # never connected: its max payload is the default 1 MiB
            [route(SUBJECT, Echo, echo), ping_route("test.v1.rpc.ping")],
            queue="test",
            concurrency=4,
            unavailable=lambda error: isinstance(error, Outage),
            on_answered=lambda subject, outcome, _s: self.answered.append((subject, outcome)),
            tracing=self.tracing,
        )

    async def ask(self, broker: Any, data: bytes, subject: str = SUBJECT) -> Reply[Echoed]:
        reply = await broker.request(data, subject, timeout=5)
        return msgspec.json.decode(reply.body, type=Reply[Echoed])


@pytest.fixture
async def served() -> AsyncIterator[tuple[Served, Any]]:
    served = Served()
    async with TestNatsBroker(served.server.broker) as broker:
        yield served, broker
    served.tracing.shutdown()


Fixture = tuple[Served, Any]


async def test_ok(served: Fixture) -> None:
    s, broker = served
    reply = await s.ask(broker, encode(Echo(text="hi")))
    assert reply == Reply[Echoed](ok=Echoed(text="hi"))
    assert s.answered == [(SUBJECT, OK)]
    # FastStream's middleware traces the in-memory broker's request and reply messages
    # too; the request's span is the one carrying our outcome (the caller's trace is
    # continued over a real server: test_rpc_tracing.py).
    [span] = [
        span
        for span in s.spans.get_finished_spans()
        if span.name == f"{SUBJECT} process" and "llmchat.outcome" in (span.attributes or {})
    ]
    assert span.kind == SpanKind.CONSUMER
    assert span.attributes is not None
    assert span.attributes["llmchat.outcome"] == OK
    assert span.attributes["messaging.system"] == "nats"
    assert span.attributes["messaging.destination.name"] == SUBJECT
    assert span.attributes["messaging.operation.type"] == "process"


async def test_ping_answers_ack(served: Fixture) -> None:
    _, broker = served
    reply = await broker.request(encode(Ping()), "test.v1.rpc.ping", timeout=5)
    assert msgspec.json.decode(reply.body, type=Reply[Ack]).ok == Ack()


@pytest.mark.parametrize("bad", [b"", b"[]", b'{"text": 1}', b"\x00"])
async def test_a_malformed_payload_is_invalid_request(served: Fixture, bad: bytes) -> None:
    s, broker = served
    reply = await s.ask(broker, bad)
    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_REQUEST
    assert reply.error.message.startswith("malformed request")
    assert s.answered == [(SUBJECT, ErrorCode.INVALID_REQUEST.value)]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("refuse", ErrorCode.NOT_FOUND),
        ("outage", ErrorCode.SERVICE_UNAVAILABLE),
        ("bug", ErrorCode.INTERNAL),
    ],
)
async def test_errors_become_error_replies(
    served: Fixture, text: str, code: ErrorCode, caplog: pytest.LogCaptureFixture
) -> None:
    s, broker = served
    with caplog.at_level(logging.WARNING, logger="llmchat_bus.rpc"):
        reply = await s.ask(broker, encode(Echo(text=text)))
    assert reply.ok is None
    assert reply.error is not None
    assert reply.error.code == code
    assert s.answered == [(SUBJECT, code.value)]
    if code == ErrorCode.INTERNAL:
        assert reply.error.message == "internal error"  # the cause stays in the log
        assert any(r.exc_info for r in caplog.records if "failed" in r.getMessage())


async def test_a_reply_over_the_max_payload_is_reply_too_large(served: Fixture) -> None:
    s, broker = served
    reply = await s.ask(broker, encode(Echo(text="", size=1_100_000)))
    assert reply.error is not None
    assert reply.error.code == ErrorCode.REPLY_TOO_LARGE
    assert s.answered == [(SUBJECT, ErrorCode.REPLY_TOO_LARGE.value)]


async def test_requests_in_hand_are_bounded_across_subjects() -> None:
    in_hand = 0
    most = 0
    release = asyncio.Event()

    async def slow(_request: Echo) -> Echoed:
        nonlocal in_hand, most
        in_hand += 1
        most = max(most, in_hand)
        await release.wait()
        in_hand -= 1
        return Echoed(text="done")

    server = RpcServer(
        NatsClient(),
        [route("test.v1.rpc.a", Echo, slow), route("test.v1.rpc.b", Echo, slow)],
        queue="test",
        concurrency=2,
    )
    async with TestNatsBroker(server.broker) as broker:
        asks = [
            asyncio.create_task(broker.request(encode(Echo(text="")), subject, timeout=5))
            for subject in ("test.v1.rpc.a", "test.v1.rpc.b") * 3
        ]
        await asyncio.sleep(0.05)
        assert most == 2
        release.set()
        replies = await asyncio.gather(*asks)
    assert most == 2
    assert all(msgspec.json.decode(r.body, type=Reply[Echoed]).ok for r in replies)
