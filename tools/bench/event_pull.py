"""`python -m bench.event_pull`: how long a chat event waits between its JetStream publish
and the consumer's handler, for the pull loop persistence and metering use (nats-py
``fetch(batch, timeout)``) and for FastStream's batch pull subscriber with the same
batch size (``PullSub(batch=True)``, two timeouts). One event at a time, on a real
nats-server, spaced so that each arrives while the consumer is waiting.

Why it exists: it is the measured reason the event consumers stay on nats-py. nats-py's
fetch returns as soon as messages are there; FastStream's batch loop fetches again until
the batch is full or its timeout has passed, so a lone event waits for the timeout.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from faststream.nats import JStream, NatsBroker, PullSub
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from bench.config import say
from local_stack.nats_server import NatsServer

BATCH = 64
EVENTS = 10
SPACING_S = 0.37
"""Not a divisor of the timeouts: each event lands at a different point of a wait."""
STREAM = "BENCH_EVENTS"
SUBJECT = "bench.events.x"


async def nats_py_delays(url: str, timeout_s: float) -> list[float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        SUBJECT,
        durable="nats-py",
        stream=STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW),
    )
    handled: asyncio.Queue[float] = asyncio.Queue()

    async def pull() -> None:
        while True:
            try:
                msgs = await sub.fetch(BATCH, timeout=timeout_s)
            except TimeoutError:
                continue
            for msg in msgs:
                await msg.ack()
                handled.put_nowait(time.perf_counter())

    puller = asyncio.create_task(pull())
    try:
        return await publish_and_time(js, handled)
    finally:
        puller.cancel()
        await nc.close()


async def faststream_delays(url: str, timeout_s: float) -> list[float]:
    nc = await nats.connect(url)
    broker = NatsBroker(url, log_level=10)
    handled: asyncio.Queue[float] = asyncio.Queue()

    async def on_batch(events: list[Any]) -> None:
        for _ in events:
            handled.put_nowait(time.perf_counter())

    broker.subscriber(
        SUBJECT,
        stream=JStream(STREAM, declare=False),
        durable=f"faststream-{int(timeout_s * 1000)}",
        deliver_policy=DeliverPolicy.NEW,
        pull_sub=PullSub(batch_size=BATCH, timeout=timeout_s, batch=True),
    )(on_batch)
    await broker.start()
    try:
        return await publish_and_time(nc.jetstream(), handled)
    finally:
        await broker.stop()
        await nc.close()


async def publish_and_time(
    js: nats.js.JetStreamContext, handled: asyncio.Queue[float]
) -> list[float]:
    await asyncio.sleep(0.5)
    delays = []
    for _ in range(EVENTS):
        await asyncio.sleep(SPACING_S)
        sent = time.perf_counter()
        await js.publish(SUBJECT, b"{}")
        delays.append((await handled.get() - sent) * 1000)
    return delays


async def measure(url: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    await nc.close()
    runs = [
        ("nats-py fetch, timeout 1 s (persistence, metering)", nats_py_delays(url, 1.0)),
        ("FastStream PullSub batch, timeout 1 s", faststream_delays(url, 1.0)),
        ("FastStream PullSub batch, timeout 0.05 s", faststream_delays(url, 0.05)),
    ]
    for name, run in runs:
        delays = await run
        say(
            f"{name}: publish -> handler p50 {statistics.median(delays):.1f} ms, "
            f"max {max(delays):.1f} ms over {len(delays)} events"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir, NatsServer(Path(data_dir)) as server:
        asyncio.run(measure(server.url))


if __name__ == "__main__":
    main()
