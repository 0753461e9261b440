"""``queued`` events: a chat waiting for a busy worker is told its place in the model's
queue, read from JetStream (the real api, persistence and worker over the session's
nats-server; the worker's engine is the ``ScriptedEngine`` stand-in with one slot)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from nats.aio.client import Client as NatsClient

from chat_api.queue_positions import _ModelQueue
from inference_worker.engine import ScriptedEngine
from inference_worker.settings import load_settings
from tests.api.conftest import LiveApi
from tests.inference_worker.harness import running_worker, worker_env

pytestmark = pytest.mark.nats


@pytest.fixture
async def http(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.base_url, headers=live_api.headers, timeout=httpx.Timeout(30.0)
    ) as client:
        yield client


async def _chat(http: httpx.AsyncClient, content: str, into: list[ServerSentEvent]) -> None:
    body = {"messages": [{"role": "user", "content": content}]}
    async with aconnect_sse(http, "POST", "/api/chat", json=body) as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():
            into.append(event)


async def _until(predicate: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _follow(http: httpx.AsyncClient, request_id: str, into: list[ServerSentEvent]) -> None:
    async with aconnect_sse(http, "GET", f"/api/chat/{request_id}/events") as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():
            into.append(event)


def _positions(events: list[ServerSentEvent]) -> list[int]:
    return [e.json()["position"] for e in events if e.event == "queued"]


async def test_waiting_chats_are_told_their_place_until_a_worker_takes_them(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    model = live_api.settings.default_model
    env = worker_env(
        live_api.settings.nats_url,
        model,
        WORKER_MAX_NUM_SEQS="1",
        WORKER_SCRIPTED_TOKENS_PER_S="20",
    )
    engine = ScriptedEngine.from_settings(load_settings(env))
    async with running_worker(nats_client, env, engine=engine) as worker:
        service = live_api.app.state["chat_service"]
        await _until(lambda: service.gateway.workers.serves(model))
        busy: list[ServerSentEvent] = []
        first: list[ServerSentEvent] = []
        second: list[ServerSentEvent] = []
        holder = asyncio.create_task(_chat(http, "hold the only slot [[hang]]", busy))
        await worker.heartbeats.wait_until(lambda status: status.in_flight == 1)
        waiting_1 = asyncio.create_task(_chat(http, "first in line [[tokens=40]]", first))
        await _until(lambda: _positions(first) != [])
        waiting_2 = asyncio.create_task(_chat(http, "second in line [[tokens=3]]", second))
        await _until(lambda: len(_positions(second)) >= 2)  # updated every second
        assert _positions(first)[-1] == 1
        assert _positions(second)[-2:] == [2, 2]
        # Another tab re-attaches to the second while it waits: told its place too.
        second_id = second[0].json()["request_id"]
        follower: list[ServerSentEvent] = []
        following = asyncio.create_task(_follow(http, second_id, follower))
        await _until(lambda: _positions(follower) != [])
        assert _positions(follower)[0] == 2

        holder_id = busy[0].json()["request_id"]
        cancelled = await http.post(f"/api/chat/{holder_id}/cancel")
        assert cancelled.status_code == 202
        await asyncio.wait_for(asyncio.gather(holder, waiting_1, waiting_2, following), 30)

    for events in (first, second, follower):
        kinds = [e.event for e in events]
        assert kinds[0] == "start"
        assert kinds[-1] == "done"
        first_token = kinds.index("token")
        assert "queued" not in kinds[first_token:]  # only while waiting
        positions = _positions(events)
        assert positions == sorted(positions, reverse=True)  # never moves back
        for event in events:
            if event.event == "queued":
                eta = event.json()["eta_s"]
                assert eta is None or eta > 0
    assert 1 in _positions(second)  # moved up when the first was taken
    assert "queued" not in [e.event for e in busy]  # a free worker took it at once


def test_service_rate_is_deliveries_per_second_over_the_window() -> None:
    queue = _ModelQueue()
    assert queue.rate() is None
    queue.sample(100.0, 10)
    assert queue.rate() is None
    queue.sample(102.0, 10)
    assert queue.rate() is None  # nothing handed out yet: no estimate
    queue.sample(104.0, 14)
    assert queue.rate() == pytest.approx(1.0)
    queue.sample(161.0, 20)  # the sample at 100 s left the 60 s window
    assert queue.rate() == pytest.approx(10 / 59)
    queue.sample(300.0, 20)  # alone in the window: no rate
    assert queue.rate() is None
