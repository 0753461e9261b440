"""Fixtures of the limit tests: the two stores (memory, real Redis with a private key
prefix removed afterwards) and real api instances (uvicorn in this event loop) over a
``FakeGateway`` and ``FakePersistence``, each with its own limiter over a given store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from redis import Redis as SyncRedis

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.limits.admission import ChatAdmission
from chat_api.limits.limiter import RateLimiter
from chat_api.limits.memory_store import MemoryLimitStore
from chat_api.limits.policy import Limits, QueueBounds, RateLimitPolicy
from chat_api.limits.redis_store import RedisLimitStore
from chat_api.limits.store import LimitStore
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from contracts.inference import ChatRequest, Chunk, StreamStarted, TokenChunk, Usage
from local_stack.ports import free_port
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import SECRET, FakePersistence

REDIS_URL = "redis://127.0.0.1:6379/0"
"""The test machine's Redis (architecture brief: real Redis for limits)."""
WAIT_S = 10.0
"""Bound for "this happens soon" conditions (polled, never slept)."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = SyncRedis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"the limit tests need Redis at {REDIS_URL}: {exc!r}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test only; its keys are deleted afterwards."""
    prefix = f"llmchat-test:{uuid.uuid4().hex[:12]}"
    yield prefix
    client = SyncRedis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


StoreFactory = Callable[..., LimitStore]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "redis":
        request.getfixturevalue("redis_url")
    return kind


@pytest.fixture
async def make_store(
    store_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    """Builds stores of the test's kind. Every Redis store of one test shares the test's
    prefix (= they are several api instances sharing one set of limits)."""
    made: list[LimitStore] = []
    prefix = request.getfixturevalue("redis_prefix") if store_kind == "redis" else ""

    def make(window_s: float = 60.0) -> LimitStore:
        store: LimitStore
        if store_kind == "redis":
            store = RedisLimitStore.from_url(REDIS_URL, prefix, timeout_s=2.0, window_s=window_s)
        else:
            store = MemoryLimitStore(window_s=window_s)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


def policy(
    user: Limits | None = None,
    admin: Limits | None = None,
    user_key: Limits | None = None,
) -> RateLimitPolicy:
    return RateLimitPolicy(
        user=user or Limits(), admin=admin or Limits(), user_key=user_key or Limits()
    )


def hanging(request: ChatRequest) -> list[Chunk]:
    """A worker that starts and then says nothing (the test ends the stream)."""
    return [StreamStarted(seq=0, worker_id="w1", model=request.model, prompt_tokens=3)]


def finish(gateway: FakeGateway, request_id: str, prompt: int = 3, completion: int = 2) -> None:
    """End a hanging stream the way a worker does: a last chunk with usage."""
    gateway.feeds[request_id].push(
        TokenChunk(
            seq=1,
            text="ok",
            finish_reason="stop",
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        )
    )


@pytest.fixture
def limit_settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        jwt_secret=SECRET,
        data_dir=tmp_path,
        max_tokens_limit=512,
        request_timeout_s=30.0,
        max_queue_depth=QueueBounds(default=0),
        chat_detach_grace_s=0.0,  # a client that leaves ends its stream (and its slot)
    )


@dataclass
class Instance:
    """One api instance: its base URL, its fake bus and its limiter."""

    base_url: str
    gateway: FakeGateway
    limiter: RateLimiter
    service: ChatService


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            return server, task
        if task.done():
            task.result()
        await asyncio.sleep(0.025)
    raise TimeoutError("api did not start")


@asynccontextmanager
async def api_instances(
    settings: ApiSettings,
    limits: RateLimitPolicy,
    stores: list[LimitStore],
    persistence: FakePersistence,
    script: Callable[[ChatRequest], list[Chunk]] | None = None,
) -> AsyncIterator[list[Instance]]:
    """One real api per store (uvicorn on a free port), each with its own fake bus."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    instances: list[Instance] = []
    settings = replace(settings, rate_limits=limits)
    try:
        for store in stores:
            gateway = FakeGateway()
            if script is not None:
                gateway.script = script
            limiter = RateLimiter(limits, store, fail_open=settings.rate_limit_fail_open)
            admission = ChatAdmission(limiter, settings.max_queue_depth)
            service = ChatService(settings, gateway, StreamTable(), admission=admission)
            app = create_app(settings, chat_service=service, persistence=persistence)
            port = free_port()
            servers.append(await serve(app, port))
            instances.append(Instance(f"http://127.0.0.1:{port}", gateway, limiter, service))
        yield instances
    finally:
        for server, _ in servers:
            server.should_exit = True
        for _, task in servers:
            await asyncio.wait_for(task, 15)


@pytest.fixture
def persistence() -> FakePersistence:
    persistence = FakePersistence()
    persistence.add_user("alice")
    persistence.add_user("bob")
    persistence.add_user("root", role="admin")
    return persistence


async def until(condition: Callable[[], bool | Awaitable[bool]], within: float = WAIT_S) -> None:
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


def chat_body(content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


async def post_chat(
    http: httpx.AsyncClient, headers: dict[str, str], content: str = "hello", **extra: Any
) -> httpx.Response:
    return await http.post("/api/chat", json=chat_body(content, **extra), headers=headers)
