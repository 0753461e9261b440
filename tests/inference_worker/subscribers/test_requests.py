"""``RequestSubscriber.on_chat_request`` when the ack's answer is lost (real nats-server,
real durable consumer; the lost answer is injected at the message, where it happens)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.codec import encode
from contracts.inference import ChatMessage, ChatRequest, SamplingParams
from contracts.streams import ensure_streams, request_consumer_config
from inference_worker.inflight import InFlight
from inference_worker.subscribers.requests import RequestSubscriber
from inference_worker.timeline import TimelineStamps

pytestmark = pytest.mark.nats


class LostAckAnswer:
    """A fetched message whose ``ack_sync`` reaches the server (or not, ``acked=False``)
    and then times out."""

    def __init__(self, msg: Msg, acked: bool) -> None:
        self._msg = msg
        self._acked = acked

    async def ack_sync(self, **kwargs: float) -> Msg:
        if self._acked:
            await self._msg.ack_sync(**kwargs)
        raise TimeoutError

    def __getattr__(self, name: str) -> Any:
        return getattr(self._msg, name)


async def fetched_request(nats_client: NatsClient) -> tuple[Msg, str, str]:
    js = nats_client.jetstream()
    await ensure_streams(js)
    model = f"m-{uuid.uuid4().hex[:8]}"
    now = time.time()
    request = ChatRequest(
        request_id=f"r-{uuid.uuid4().hex[:8]}",
        user_id="u1",
        model=model,
        messages=(ChatMessage(role="user", content="hi"),),
        sampling=SamplingParams(),
        deadline=now + 30,
        created_at=now,
    )
    await js.publish(subjects.request_subject(model), encode(request))
    sub = await js.pull_subscribe(
        subjects.request_subject(model),
        durable=subjects.request_consumer(model),
        stream=subjects.REQUESTS_STREAM,
        config=request_consumer_config(model),
    )
    [msg] = await sub.fetch(1, timeout=5)
    return msg, model, request.request_id


def subscriber(
    nats_client: NatsClient,
    model: str,
    taken: list[str],
    stamped: list[TimelineStamps] | None = None,
) -> RequestSubscriber:
    async def take(
        request: ChatRequest, stamps: TimelineStamps, owned: asyncio.Future[bool]
    ) -> bool:
        # As a generation does: it may start at once, but it answers only once it owns
        # the request.
        if not await owned:
            return False
        taken.append(request.request_id)
        if stamped is not None:
            stamped.append(stamps)
        return True

    return RequestSubscriber(nats_client.jetstream(), model=model, inflight=InFlight(1), take=take)


async def test_an_ack_stored_despite_its_error_still_runs_the_request(
    nats_client: NatsClient,
) -> None:
    """The message is gone from the work queue: if this worker let it go, nobody would
    ever run it and the client would wait for its deadline."""
    msg, model, request_id = await fetched_request(nats_client)
    taken: list[str] = []
    started = await subscriber(nats_client, model, taken).on_chat_request(
        LostAckAnswer(msg, acked=True)  # type: ignore[arg-type]
    )
    assert started
    assert taken == [request_id]


async def test_a_taken_request_carries_when_it_was_fetched_and_acked(
    nats_client: NatsClient,
) -> None:
    msg, model, request_id = await fetched_request(nats_client)
    fetched = time.time_ns()
    taken: list[str] = []
    stamped: list[TimelineStamps] = []
    assert await subscriber(nats_client, model, taken, stamped).on_chat_request(msg, fetched)
    assert taken == [request_id]
    [stamps] = stamped
    assert stamps.fetched == fetched
    assert fetched < stamps.acked <= time.time_ns()  # after the ack's round trip
    assert stamps.prompt_built == stamps.first_output == 0  # the generation's to stamp


async def test_an_ack_that_never_arrived_leaves_the_request_for_redelivery(
    nats_client: NatsClient,
) -> None:
    msg, model, _ = await fetched_request(nats_client)
    taken: list[str] = []
    started = await subscriber(nats_client, model, taken).on_chat_request(
        LostAckAnswer(msg, acked=False)  # type: ignore[arg-type]
    )
    assert not started
    assert taken == []
    js = nats_client.jetstream()
    try:  # still queued, for this worker or another after ack_wait
        await js.get_msg(subjects.REQUESTS_STREAM, msg.metadata.sequence.stream)
    except NotFoundError:
        pytest.fail("the request left the queue without running")
