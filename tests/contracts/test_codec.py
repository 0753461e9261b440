"""Round trips and rejection of malformed payloads for every wire schema."""

from __future__ import annotations

import msgspec
import pytest

from contracts import codec
from contracts.events import RequestAccepted, RequestCancelled, RequestCompleted, RequestFailed
from contracts.inference import (
    CancelRequest,
    ChatMessage,
    ChatRequest,
    SamplingParams,
    StreamError,
    StreamStarted,
    TokenChunk,
    Usage,
)
from contracts.workers import WorkerStatus

USAGE = Usage(prompt_tokens=7, completion_tokens=3)


def test_chat_request_round_trip() -> None:
    request = ChatRequest(
        request_id="r1",
        user_id="u1",
        model="m",
        messages=(
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content="hi"),
        ),
        sampling=SamplingParams(temperature=0.5, max_tokens=10, stop=("\n",)),
        deadline=123.5,
        created_at=100.0,
    )
    decoded = codec.decode_chat_request(codec.encode(request))
    assert decoded == request
    assert decoded.v == 1


@pytest.mark.parametrize(
    "chunk",
    [
        StreamStarted(seq=0, worker_id="w", model="m", prompt_tokens=5),
        TokenChunk(seq=1, text="he", token_ids=(11, 12)),
        TokenChunk(seq=2, text="", finish_reason="stop", usage=USAGE),
        StreamError(seq=3, code="timeout", message="deadline passed"),
    ],
)
def test_chunk_union_keeps_the_kind(chunk: object) -> None:
    decoded = codec.decode_chunk(codec.encode(chunk))  # type: ignore[arg-type]
    assert decoded == chunk
    assert type(decoded) is type(chunk)


@pytest.mark.parametrize(
    "event",
    [
        RequestAccepted(request_id="r", user_id="u", model="m", message_count=2, at=1.0),
        RequestCompleted(
            request_id="r",
            user_id="u",
            model="m",
            worker_id="w",
            finish_reason="stop",
            usage=USAGE,
            ttft_ms=5.0,
            latency_ms=9.0,
            at=2.0,
        ),
        RequestFailed(
            request_id="r",
            user_id="u",
            model="m",
            worker_id=None,
            code="worker_lost",
            message="gone",
            latency_ms=1.0,
            at=2.0,
        ),
        RequestCancelled(
            request_id="r",
            user_id="u",
            model="m",
            worker_id="w",
            reason="client_disconnected",
            usage=USAGE,
            latency_ms=3.0,
            at=2.0,
        ),
    ],
)
def test_event_union_keeps_the_kind(event: object) -> None:
    decoded = codec.decode_event(codec.encode(event))  # type: ignore[arg-type]
    assert decoded == event


def test_usage_total() -> None:
    assert USAGE.total_tokens == 10


def test_cancel_and_worker_status_round_trip() -> None:
    cancel = CancelRequest(request_id="r", reason="timeout")
    assert codec.decode_cancel(codec.encode(cancel)) == cancel
    status = WorkerStatus(
        worker_id="w",
        model="m",
        state="ready",
        in_flight=1,
        capacity=8,
        engine="vllm",
        interval_s=1.0,
        sent_at=5.0,
    )
    assert codec.decode_worker_status(codec.encode(status)) == status


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"request_id": "r"}',
        b'{"request_id":"r","user_id":"u","model":"m","messages":[{"role":"robot",'
        b'"content":"x"}],"deadline":1,"created_at":1}',
    ],
)
def test_malformed_chat_request_is_rejected(payload: bytes) -> None:
    with pytest.raises(codec.DecodeErrors):
        codec.decode_chat_request(payload)


def test_unknown_chunk_kind_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError):
        codec.decode_chunk(b'{"type": "mystery", "seq": 1}')
