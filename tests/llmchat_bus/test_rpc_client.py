"""``RpcClient`` over a real nats-server: the ``ok`` typed as asked, refusals with their
wire code, every kind of silence or garbage as one ``RpcNoAnswer``, and the trace context
on the request when tracing is on."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

import msgspec
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply, RpcError
from llmchat_bus.rpc_client import (
    NoAnswerReason,
    RpcClient,
    RpcNoAnswer,
    RpcRefused,
    reply_decoder,
)

pytestmark = pytest.mark.nats

SUBJECT = "test.v1.rpc_client.echo"
SILENT_SUBJECT = "test.v1.rpc_client.silent"


class Question(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Responder:
    """Answers every request on ``SUBJECT`` with the bytes last set; keeps what it got."""

    def __init__(self) -> None:
        self.answer = encode(Reply[Answer](ok=Answer(text="yes")))
        self.received: list[Msg] = []

    async def on_request(self, msg: Msg) -> None:
        self.received.append(msg)
        await msg.respond(self.answer)

    async def on_silent(self, msg: Msg) -> None:
        self.received.append(msg)


@pytest.fixture
async def responder(nats_client: NatsClient) -> AsyncIterator[Responder]:
    responder = Responder()
    subs = [
        await nats_client.subscribe(SUBJECT, cb=responder.on_request),
        await nats_client.subscribe(SILENT_SUBJECT, cb=responder.on_silent),
    ]
    await nats_client.flush()
    yield responder
    for sub in subs:
        await sub.unsubscribe()


@pytest.fixture
def client(nats_client: NatsClient) -> Callable[..., RpcClient]:
    def make(timeout_s: float = 2.0, propagate_trace: bool = False) -> RpcClient:
        return RpcClient(nats_client, "echo", timeout_s, propagate_trace=propagate_trace)

    return make


async def test_ok_reply_is_decoded_as_the_result_type(
    responder: Responder, client: Callable[..., RpcClient]
) -> None:
    assert await client().call(SUBJECT, Question(text="?"), Answer) == Answer(text="yes")
    assert msgspec.json.decode(responder.received[0].data, type=Question) == Question(text="?")


async def test_a_refusal_carries_the_wire_code_and_message(
    responder: Responder, client: Callable[..., RpcClient]
) -> None:
    responder.answer = encode(
        Reply[Answer](error=RpcError(code=ErrorCode.PROFILE_READ_ONLY, message="built in"))
    )
    with pytest.raises(RpcRefused) as info:
        await client().call(SUBJECT, Question(text="?"), Answer)
    assert (info.value.code, info.value.message) == ("profile_read_only", "built in")
    assert (info.value.callee, info.value.subject) == ("echo", SUBJECT)


async def test_silence_is_no_answer_after_the_timeout(
    responder: Responder, client: Callable[..., RpcClient], caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="llmchat_bus.rpc_client"),
        pytest.raises(RpcNoAnswer) as info,
    ):
        await client(timeout_s=30.0).call(SILENT_SUBJECT, Question(text="?"), Answer, 0.2)
    assert time.monotonic() - started < 5  # the call's own timeout, not the client's
    assert info.value.reason is NoAnswerReason.UNREACHABLE
    assert len(responder.received) == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "llmchat_bus.rpc_client"]
    assert len(logged) == 1
    assert SILENT_SUBJECT in logged[0]
    assert "timeout" in logged[0]


async def test_no_responders_is_no_answer(
    nats_client: NatsClient, client: Callable[..., RpcClient]
) -> None:
    started = time.monotonic()
    with pytest.raises(RpcNoAnswer) as info:
        await client(timeout_s=10.0).call("test.v1.rpc_client.nobody", Question(text="?"), Answer)
    assert time.monotonic() - started < 5  # said at once, not after the timeout
    assert info.value.reason is NoAnswerReason.UNREACHABLE
    assert "NoResponders" in info.value.cause


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"garbage", NoAnswerReason.UNREADABLE),
        (encode(Reply[dict[str, int]](ok={"text": 1})), NoAnswerReason.UNREADABLE),
        (encode(Reply[Answer]()), NoAnswerReason.EMPTY),
    ],
)
async def test_a_malformed_or_empty_reply_is_no_answer(
    responder: Responder,
    client: Callable[..., RpcClient],
    caplog: pytest.LogCaptureFixture,
    answer: bytes,
    reason: NoAnswerReason,
) -> None:
    responder.answer = answer
    with caplog.at_level(logging.ERROR, logger="llmchat_bus.rpc_client"):
        with pytest.raises(RpcNoAnswer) as info:
            await client().call(SUBJECT, Question(text="?"), Answer)
    assert info.value.reason is reason
    ours = [r for r in caplog.records if r.name == "llmchat_bus.rpc_client"]
    assert [r.levelno for r in ours] == [logging.ERROR]


async def test_a_closed_connection_is_no_answer(nats_url: str) -> None:

    nc = await nats.connect(nats_url)
    await nc.close()
    with pytest.raises(RpcNoAnswer) as info:
        await RpcClient(nc, "echo", 1.0).call(SUBJECT, Question(text="?"), Answer)
    assert info.value.reason is NoAnswerReason.UNREACHABLE


SPAN = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)


async def test_the_trace_context_goes_on_the_request_when_tracing_is_on(
    responder: Responder, client: Callable[..., RpcClient]
) -> None:
    with trace.use_span(NonRecordingSpan(SPAN)):
        await client(propagate_trace=True).call(SUBJECT, Question(text="?"), Answer)
        await client(propagate_trace=False).call(SUBJECT, Question(text="?"), Answer)
    traced, untraced = responder.received
    assert traced.headers is not None
    assert traced.headers["traceparent"] == (
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
    assert not (untraced.headers or {}).get("traceparent")


def test_one_decoder_per_result_type() -> None:
    answers: object = reply_decoder(Answer)
    questions: object = reply_decoder(Question)
    assert reply_decoder(Answer) is answers
    assert questions is not answers
