"""A live swap on the real vLLM CPU engine: gemma3-270m -> gemma3-270m-long (same weights,
8k context, 8 sequences), with one chat in flight and one sent during the swap.

Slow: two engine starts (about 40 s each on 2 cores) and one shutdown.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from nats.aio.client import Client as NatsClient

from contracts.events import RequestCancelled, RequestCompleted
from contracts.inference import StreamError, StreamStarted, TokenChunk
from inference_worker.model_prep import prepare
from inference_worker.settings import load_settings
from tests.inference_worker.harness import Client, running_worker, unique, worker_env
from tests.inference_worker.test_swap_app import LONG, publish_command, watch_statuses

pytestmark = [pytest.mark.vllm, pytest.mark.nats]

ENGINE_WAIT = 300.0


async def test_real_engine_swap_with_chats_in_flight(
    nats_client: NatsClient, nats_url: str
) -> None:
    group = unique("g")
    env = {
        **os.environ,
        **worker_env(nats_url, group),
        "WORKER_ENGINE": "vllm",
        "WORKER_HEARTBEAT_S": "1",
    }
    env.pop("WORKER_SCRIPTED_TOKENS_PER_S", None)
    await asyncio.to_thread(prepare, load_settings(env).model_path)
    client = Client(nats_client)
    await client.start()
    async with running_worker(nats_client, env, within=ENGINE_WAIT) as worker:
        statuses = await watch_statuses(nats_client, worker.settings.worker_id)
        in_flight = await client.send(group, "Tell me a long story.", max_tokens=400)
        async with asyncio.timeout(60):
            await in_flight.started.wait()
        await publish_command(nats_client, group, LONG)  # drain_timeout_s 5
        await worker.heartbeats.wait_for("draining", 30)
        during = await client.send(group, "Say hello.", max_tokens=16, deadline_in=ENGINE_WAIT)
        final = await statuses.wait(ENGINE_WAIT)
        first = await in_flight.wait(60)
        second = await during.wait(60)
        beat = await worker.heartbeats.wait_until(lambda s: s.profile_id == LONG.id, 30)

    print(f"\nswap gemma3-270m -> {LONG.id}: {final.swap_s:.1f} s ({statuses.phases()})")
    assert statuses.phases() == ["draining", "unloading", "loading", "ready"]
    assert final.swap_s is not None
    assert beat.state == "ready"
    assert beat.capacity == LONG.engine.max_num_seqs
    # the chat in flight completed within the drain timeout, or was ended clearly
    end = first.events[-1]
    if isinstance(end, RequestCancelled):
        error = first.chunks[-1]
        assert isinstance(error, StreamError)
        assert error.code == "shutting_down"
    else:
        assert isinstance(end, RequestCompleted)
    # the chat sent during the swap waited in the stream and was served by the new engine
    assert isinstance(second.chunks[0], StreamStarted)
    last = second.chunks[-1]
    assert isinstance(last, TokenChunk)
    assert last.finish_reason in ("stop", "length")
    assert isinstance(second.events[-1], RequestCompleted)
