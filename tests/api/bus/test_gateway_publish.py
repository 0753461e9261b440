"""Queueing a request when JetStream's answer is lost: the request may be stored or not,
and only a second publish under the same ``Nats-Msg-Id`` tells (real nats-server; the
lost ack is injected at the client, where it happens)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck

from chat_api.bus import GatewayUnavailable
from chat_api.gateway import NatsGateway
from chat_api.workers import WorkerRegistry
from contracts import subjects
from contracts.inference import ChatMessage, ChatRequest, SamplingParams

pytestmark = pytest.mark.nats


class LosesAcks:
    """A JetStream context whose first ``lose`` publishes reach the server (or not, with
    ``store=False``) but time out on the way back."""

    def __init__(self, js: JetStreamContext, lose: int, store: bool = True) -> None:
        self._js = js
        self._lose = lose
        self._store = store
        self.calls = 0

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> PubAck:
        self.calls += 1
        if self._lose:  # (events go through the gateway's outbox, not through here)
            self._lose -= 1
            if self._store:
                await self._js.publish(subject, payload, **kwargs)
            raise TimeoutError
        return await self._js.publish(subject, payload, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)


def chat_request(model: str) -> ChatRequest:
    now = time.time()
    return ChatRequest(
        request_id=f"r-{uuid.uuid4().hex[:8]}",
        user_id="u1",
        model=model,
        messages=(ChatMessage(role="user", content="hi"),),
        sampling=SamplingParams(),
        deadline=now + 30,
        created_at=now,
    )


async def queued(gateway: NatsGateway, model: str) -> int:
    info = await gateway.js.stream_info(
        subjects.REQUESTS_STREAM, subjects_filter=subjects.request_subject(model)
    )
    return (info.state.subjects or {}).get(subjects.request_subject(model), 0)


async def test_a_lost_ack_is_published_again_and_stored_once(nats_url: str) -> None:
    gateway = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    model = f"m-{uuid.uuid4().hex[:8]}"
    flaky = LosesAcks(gateway.js, lose=1)
    gateway.requests.js = flaky  # type: ignore[assignment]
    try:
        feed = await gateway.open(chat_request(model))
        assert flaky.calls >= 2
        gateway.requests.js = flaky._js  # type: ignore[attr-defined]
        assert await queued(gateway, model) == 1  # the second publish was a duplicate
        feed.close()
    finally:
        await gateway.close()


class NeverAcks:
    """A JetStream context whose publishes never come back (the caller gives up first)."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.started = asyncio.Event()

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> PubAck:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)


async def test_an_open_cancelled_while_publishing_leaves_no_feed_open(nats_url: str) -> None:
    gateway = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    hanging = NeverAcks(gateway.js)
    gateway.requests.js = hanging  # type: ignore[assignment]
    try:
        opening = asyncio.create_task(gateway.open(chat_request(f"m-{uuid.uuid4().hex[:8]}")))
        await asyncio.wait_for(hanging.started.wait(), 5.0)
        assert len(gateway.feeds.open) == 1
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert gateway.feeds.open == {}
    finally:
        await gateway.close()


async def test_two_lost_acks_fail_the_chat_clearly(nats_url: str) -> None:
    gateway = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    model = f"m-{uuid.uuid4().hex[:8]}"
    gateway.requests.js = LosesAcks(gateway.js, lose=2, store=False)  # type: ignore[assignment]
    try:
        with pytest.raises(GatewayUnavailable, match="could not queue"):
            await gateway.open(chat_request(model))
    finally:
        await gateway.close()


async def test_cancelling_a_request_a_worker_took_withdraws_nothing_quietly(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await NatsGateway.connect(nats_url, WorkerRegistry(3.0), timeout_s=10.0)
    model = f"m-{uuid.uuid4().hex[:8]}"
    try:
        request = chat_request(model)
        feed = await gateway.open(request)
        info = await gateway.js.stream_info(subjects.REQUESTS_STREAM)
        # A worker's ack removes the request from the work queue: do that by hand.
        await gateway.js.delete_msg(subjects.REQUESTS_STREAM, info.state.last_seq)
        with caplog.at_level("INFO", logger="chat_api.bus"):
            gateway.cancel(request.request_id, "client_disconnected")
            feed.close()
            await gateway.close()
        messages = [record.getMessage() for record in caplog.records]
        assert not [m for m in messages if "withdrawn" in m or "failed" in m], messages
    finally:
        if not gateway.nc.is_closed:
            await gateway.close()
