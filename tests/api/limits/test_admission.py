"""Admission control: a model whose queue is deeper than ``MAX_QUEUE_DEPTH`` sheds new
chats with 503 ``model_overloaded`` + Retry-After. The queue is real: the real worker
(scripted stand-in engine, capacity 1) busy on a ``[[hang]]`` prompt, a second chat
waiting in JetStream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import openai
import pytest
from nats.aio.client import Client as NatsClient

from chat_api.chat import ChatService
from chat_api.errors import ApiError
from chat_api.limits.admission import ChatAdmission
from chat_api.limits.limiter import RateLimiter
from chat_api.limits.memory_store import MemoryLimitStore
from chat_api.limits.policy import QueueBounds, RateLimitPolicy
from chat_api.limits.queue import QueueMonitor
from inference_worker.engine import ScriptedEngine
from inference_worker.settings import load_settings
from tests.api.conftest import LiveApi
from tests.api.limits.conftest import until
from tests.inference_worker.harness import running_worker, worker_env


class FakeProbe:
    def __init__(self) -> None:
        self.depths: dict[str, int] = {}
        self.failing = False

    async def depth(self, model: str) -> int:
        if self.failing:
            raise TimeoutError("no reply")
        return self.depths.get(model, 0)


def test_queue_bounds_parse() -> None:
    assert QueueBounds.parse("") == QueueBounds()
    assert QueueBounds.parse("7").for_model("any") == 7
    bounds = QueueBounds.parse("*=20, big/model-1.5B=3")
    assert (bounds.for_model("big/model-1.5B"), bounds.for_model("small")) == (3, 20)
    assert QueueBounds.parse("big=2").for_model("small") == QueueBounds().default
    for bad in ("x", "-1", "big=", "=3", "big=many"):
        with pytest.raises(ValueError, match="MAX_QUEUE_DEPTH"):
            QueueBounds.parse(bad)


async def test_monitor_keeps_the_last_depth_when_the_poll_fails() -> None:
    probe = FakeProbe()
    monitor = QueueMonitor(probe, ("a", "b"), interval_s=0.01)
    probe.depths = {"a": 4}
    await monitor.poll()
    assert monitor.depths() == {"a": 4, "b": 0}
    probe.failing = True
    await monitor.poll()
    assert monitor.depth("a") == 4
    probe.failing = False
    monitor.start()
    probe.depths = {"a": 0, "b": 2}
    await until(lambda: monitor.depths() == {"a": 0, "b": 2})
    await monitor.close()


async def test_check_queue_against_per_model_bounds() -> None:
    probe = FakeProbe()
    monitor = QueueMonitor(probe, ("a", "b", "c"))
    limiter = RateLimiter(RateLimitPolicy(), MemoryLimitStore())
    admission = ChatAdmission(limiter, QueueBounds.parse("*=2,b=5,c=0"), monitor, 7)
    probe.depths = {"a": 2, "b": 4, "c": 1000}
    await monitor.poll()
    with pytest.raises(ApiError) as info:
        admission.check_queue("a")
    assert (info.value.status_code, info.value.code) == (503, "model_overloaded")
    assert info.value.headers == {"Retry-After": "7"}
    assert "2 requests waiting" in info.value.message
    admission.check_queue("b")  # 4 < 5
    admission.check_queue("c")  # 0 = no bound


@pytest.fixture
def live_api_overrides() -> dict[str, Any]:
    return {
        "max_queue_depth": QueueBounds(default=1),
        "queue_poll_interval_s": 0.1,
        "queue_retry_after_s": 3,
        "chat_detach_grace_s": 0.0,  # a client that leaves frees its worker slot at once
    }


class Stream:
    """An open ``/api/chat`` whose ``start`` event was read."""

    def __init__(self, stack: AsyncExitStack, request_id: str) -> None:
        self.stack = stack
        self.request_id = request_id

    async def close(self) -> None:
        await self.stack.aclose()


async def open_chat(http: httpx.AsyncClient, content: str) -> Stream:
    stack = AsyncExitStack()
    body = {"messages": [{"role": "user", "content": content}]}
    response = await stack.enter_async_context(http.stream("POST", "/api/chat", json=body))
    assert response.status_code == 200, await response.aread()
    lines = response.aiter_lines()
    stack.push_async_callback(lines.aclose)  # type: ignore[attr-defined]
    async for line in lines:
        if line.startswith("data: "):
            return Stream(stack, json.loads(line[6:])["request_id"])
    raise AssertionError("no start event")


@pytest.fixture
async def http(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.base_url, headers=live_api.headers, timeout=10
    ) as client:
        yield client


@pytest.mark.nats
async def test_model_overloaded_when_the_queue_is_deeper_than_the_bound(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    model = live_api.settings.default_model
    service: ChatService = live_api.app.state["chat_service"]
    queue = service.admission.queue
    assert queue is not None
    env = worker_env(live_api.settings.nats_url, model, WORKER_MAX_NUM_SEQS="1")
    engine = ScriptedEngine.from_settings(load_settings(env))
    async with running_worker(nats_client, env, engine=engine) as worker:
        await until(lambda: service.gateway.workers.serves(model))
        running = await open_chat(http, "keep the only slot busy [[hang]]")
        await worker.heartbeats.wait_until(lambda status: status.in_flight == 1)
        waiting = await open_chat(http, "wait in the queue [[hang]]")  # depth 0 < 1 then
        await until(lambda: queue.depth(model) >= 1)

        shed = await http.post(
            "/api/chat", json={"messages": [{"role": "user", "content": "one more"}]}
        )
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "3"
        error = shed.json()["error"]
        assert error["code"] == "model_overloaded"
        assert error["request_id"] == shed.headers["x-request-id"]
        assert "requests waiting" in error["message"]
        # The same depths are the queue gauge of the metrics endpoint.
        metrics = await http.get("/metrics")
        assert f'llmchat_api_queue_depth{{model="{model}"}} 1.0' in metrics.text

        client = openai.AsyncOpenAI(
            base_url=f"{live_api.base_url}/v1", api_key=live_api.token, max_retries=0
        )
        try:
            with pytest.raises(openai.InternalServerError) as info:
                await client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "and one more"}]
                )
            assert info.value.status_code == 503
            assert info.value.code == "model_overloaded"
        finally:
            await client.close()

        # The client of the running chat leaves: the worker takes the waiting one, the
        # queue drains, and chats are admitted again.
        await running.close()
        await until(lambda: queue.depth(model) == 0)
        admitted = await open_chat(http, "admitted again [[hang]]")
        await asyncio.gather(waiting.close(), admitted.close())
