"""Chunks lost while the api's NATS connection is down are replayed from the capture stream.

The real api connects to nats-server through a TCP proxy, the real worker (scripted
engine) connects directly; the test cuts the api's connection mid-stream for about a
second (``TcpProxy.stop`` closes it, as a network blip or a server cutting a slow consumer
would). Core NATS drops what the worker published meanwhile; the api must still relay the
whole answer, the one the worker reports in ``RequestCompleted``, and end it ``done``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_sse import aconnect_sse
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from chat_api.chat import ChatService
from chat_api.gateway import NatsGateway
from contracts import codec, subjects
from contracts.events import RequestCompleted
from local_stack.ports import free_port
from tests.api.conftest import LiveApi
from tests.inference_worker.harness import running_worker, worker_env
from tests.persistence.tcp_proxy import TcpProxy

pytestmark = pytest.mark.nats

WAIT_S = 10.0
CUT_S = 1.0
"""How long the api's NATS connection stays cut (it retries every 0.5 s)."""


@pytest.fixture
async def proxy(nats_url: str) -> AsyncIterator[TcpProxy]:
    """The api's way to nats-server."""
    server = urlsplit(nats_url)
    assert server.hostname is not None
    assert server.port is not None
    tcp_proxy = TcpProxy(free_port(), server.hostname, server.port)
    await tcp_proxy.start()
    yield tcp_proxy
    await tcp_proxy.stop()


@pytest.fixture
def live_api_overrides(proxy: TcpProxy) -> dict[str, Any]:
    # Heartbeats are lost during the cut too: the worker must not look gone meanwhile.
    return {"nats_url": f"nats://127.0.0.1:{proxy.port}", "worker_stale_after_s": 10.0}


async def _until(predicate: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("tokens", "tokens_per_s", "live_tokens"),
    [
        # The cut swallows chunks in the middle: the next live chunk shows a gap.
        pytest.param(150, 50, 5, id="mid-stream"),
        # The stream ends during the cut: no live chunk would ever show the loss.
        pytest.param(20, 50, 2, id="final-chunk"),
    ],
)
async def test_chunks_lost_during_a_reconnect_are_replayed(
    live_api: LiveApi,
    proxy: TcpProxy,
    nats_url: str,
    nats_client: NatsClient,
    tokens: int,
    tokens_per_s: int,
    live_tokens: int,
) -> None:
    service: ChatService = live_api.app.state["chat_service"]
    gateway = service.gateway
    assert isinstance(gateway, NatsGateway)
    reconnected = asyncio.Event()
    gateway.on_reconnect.append(reconnected.set)
    completed: list[RequestCompleted] = []

    async def on_completed(msg: Msg) -> None:
        event = codec.decode_event(msg.data)
        if isinstance(event, RequestCompleted):
            completed.append(event)

    completed_sub = await nats_client.subscribe(subjects.EVENT_COMPLETED, cb=on_completed)
    model = live_api.settings.default_model
    env = worker_env(nats_url, model, WORKER_SCRIPTED_TOKENS_PER_S=str(tokens_per_s))
    try:
        async with (
            running_worker(nats_client, env),
            httpx.AsyncClient(
                base_url=live_api.base_url, headers=live_api.headers, timeout=WAIT_S
            ) as http,
        ):
            await _until(lambda: gateway.workers.serves(model))
            body = {
                "messages": [{"role": "user", "content": f"count [[tokens={tokens}]]"}],
                "timeout_s": 15,
            }
            async with aconnect_sse(http, "POST", "/api/chat", json=body) as source:
                events = source.aiter_sse()
                start = await anext(events)
                request_id = start.json()["request_id"]
                received = [await anext(events) for _ in range(live_tokens)]
                await proxy.stop()  # closes the api's NATS connection
                await asyncio.sleep(CUT_S)
                await proxy.start()
                await asyncio.wait_for(reconnected.wait(), WAIT_S)
                received += [sse async for sse in events]
            await _until(lambda: any(e.request_id == request_id for e in completed))
    finally:
        await completed_sub.unsubscribe()

    assert [e.event for e in received[:-1]] == ["token"] * (len(received) - 1)
    assert received[-1].event == "done", received[-1].data
    assert [int(e.id) for e in received[:-1]] == list(range(1, len(received)))
    (event,) = [e for e in completed if e.request_id == request_id]
    assert "".join(e.json()["text"] for e in received[:-1]) == event.text
    assert received[-1].json()["usage"]["completion_tokens"] == tokens
