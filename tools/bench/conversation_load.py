"""Loading a saved conversation of 1,000 messages through the api (issue goal: p95 under
100 ms). The messages arrive the way real chats store them: accepted + completed events
on the events stream, consumed by persistence."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import msgspec
import nats

from bench.stats import percentile
from contracts import codec, subjects
from contracts.bus import bus_inbox
from contracts.events import RequestAccepted, RequestCompleted
from contracts.inference import Usage


class LoadResult(msgspec.Struct, kw_only=True):
    messages: int
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float


async def publish_exchanges(
    nats_url: str, user_id: str, conversation_id: str, exchanges: int
) -> None:
    nc = await nats.connect(nats_url, inbox_prefix=bus_inbox(nats_url))
    js = nc.jetstream()
    base = time.time() - exchanges
    try:
        for index in range(exchanges):
            request_id = f"bench-{uuid.uuid4().hex}"
            at = base + index
            accepted = RequestAccepted(
                request_id=request_id,
                user_id=user_id,
                model="bench",
                message_count=1,
                at=at,
                conversation_id=conversation_id,
                user_message=f"Question {index}: what happened next in the story?",
            )
            completed = RequestCompleted(
                request_id=request_id,
                user_id=user_id,
                model="bench",
                worker_id="bench",
                finish_reason="stop",
                usage=Usage(prompt_tokens=40, completion_tokens=60),
                ttft_ms=50.0,
                latency_ms=900.0,
                at=at + 0.5,
                conversation_id=conversation_id,
                text=f"Answer {index}: " + "and then the story went on. " * 8,
            )
            for subject, event, kind in (
                (subjects.EVENT_ACCEPTED, accepted, "accepted"),
                (subjects.EVENT_COMPLETED, completed, "completed"),
            ):
                await js.publish(
                    subject,
                    codec.encode(event),
                    headers={subjects.MSG_ID_HEADER: subjects.event_msg_id(request_id, kind)},
                )
    finally:
        await nc.drain()


async def measure(
    api_url: str, token: str, nats_url: str, user_id: str, exchanges: int = 500, requests: int = 100
) -> LoadResult:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as client:
        created = await client.post("/api/conversations", json={"title": "bench: long"})
        created.raise_for_status()
        conversation_id = created.json()["id"]
        await publish_exchanges(nats_url, user_id, conversation_id, exchanges)
        # The whole conversation in one page (the default page is the newest 100).
        path = f"/api/conversations/{conversation_id}?limit=1000"
        deadline = time.monotonic() + 120
        while True:  # persistence consumes the events asynchronously
            count = len((await client.get(path)).json()["messages"])
            if count >= 2 * exchanges:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {count} of {2 * exchanges} messages stored")
            await asyncio.sleep(0.5)
        timings: list[float] = []
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.get(path)
            response.raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    return LoadResult(
        messages=count,
        requests=requests,
        p50_ms=round(percentile(timings, 50) or 0, 2),
        p95_ms=round(percentile(timings, 95) or 0, 2),
        max_ms=round(max(timings), 2),
    )
