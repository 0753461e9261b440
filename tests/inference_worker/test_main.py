"""``python -m inference_worker`` as a process: SIGTERM drains a request in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.events import RequestCompleted
from contracts.inference import TokenChunk
from tests.inference_worker.harness import WAIT, Client, Heartbeats, unique, worker_env

pytestmark = pytest.mark.nats


async def test_sigterm_drains_the_request_in_flight(nats_client: NatsClient, nats_url: str) -> None:
    model = unique("m")
    env = worker_env(nats_url, model, WORKER_SCRIPTED_TOKENS_PER_S="40")
    heartbeats = Heartbeats()
    await nats_client.subscribe(subjects.heartbeat_subject(env["WORKER_ID"]), cb=heartbeats.on_msg)
    client = Client(nats_client)
    await client.start()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inference_worker",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await heartbeats.wait_for("ready", within=30)
        stream = await client.send(model, "[[tokens=20]]")  # about 0.5 s of tokens
        await asyncio.wait_for(stream.started.wait(), WAIT)
        process.send_signal(signal.SIGTERM)
        await heartbeats.wait_for("draining")
        await stream.wait()
        try:
            assert await asyncio.wait_for(process.wait(), WAIT) == 0
        except TimeoutError:
            process.kill()
            await process.wait()
            output = (await process.stdout.read()).decode() if process.stdout else ""
            pytest.fail(f"the worker did not exit after draining; its output:\n{output}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = (await process.stdout.read()).decode() if process.stdout else ""

    last = stream.chunks[-1]
    assert isinstance(last, TokenChunk), output
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert last.usage.completion_tokens == 20
    assert isinstance(stream.events[0], RequestCompleted)
    assert heartbeats.states()[-2:] == ["draining", "stopped"]
    assert "worker state ready -> draining" in output
