"""ensure_streams against a real nats-server: idempotent, and the dedup rule holds."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient

from contracts import codec, subjects
from contracts.events import RequestCancelled, RequestFailed
from contracts.streams import ensure_streams

pytestmark = pytest.mark.nats


async def test_ensure_streams_is_idempotent(nats_client: NatsClient) -> None:
    js = nats_client.jetstream()
    await ensure_streams(js)
    await ensure_streams(js)
    names = {info.config.name for info in await js.streams_info()}
    assert {subjects.REQUESTS_STREAM, subjects.CHUNKS_STREAM, subjects.EVENTS_STREAM} <= names


async def test_only_the_first_terminal_event_is_stored(nats_client: NatsClient) -> None:
    js = nats_client.jetstream()
    await ensure_streams(js)
    before = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
    request_id = "dedup-check"
    cancelled = RequestCancelled(
        request_id=request_id,
        user_id="u",
        model="m",
        worker_id="w",
        reason="client_disconnected",
        latency_ms=1.0,
        at=1.0,
    )
    failed = RequestFailed(
        request_id=request_id,
        user_id="u",
        model="m",
        worker_id=None,
        code="worker_lost",
        message="gone",
        latency_ms=2.0,
        at=2.0,
    )
    first = await js.publish(
        subjects.EVENT_CANCELLED,
        codec.encode(cancelled),
        headers={subjects.MSG_ID_HEADER: subjects.event_msg_id(request_id, "cancelled")},
    )
    second = await js.publish(
        subjects.EVENT_FAILED,
        codec.encode(failed),
        headers={subjects.MSG_ID_HEADER: subjects.event_msg_id(request_id, "failed")},
    )
    assert not first.duplicate
    assert second.duplicate
    after = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
    assert after == before + 1


async def test_core_chunk_publish_is_captured_for_replay(nats_client: NatsClient) -> None:
    js = nats_client.jetstream()
    await ensure_streams(js)
    subject = subjects.chunk_subject("relay-1", "replay-check")
    for seq in range(3):
        await nats_client.publish(subject, str(seq).encode())
    await nats_client.flush()
    sub = await js.subscribe(subject, ordered_consumer=True)
    received = [(await sub.next_msg(timeout=2)).data for _ in range(3)]
    assert received == [b"0", b"1", b"2"]
    await sub.unsubscribe()
