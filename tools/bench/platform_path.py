"""Requests through the front door: POST /api/chat, SSE read until `done` (which carries
the first token's stages: the bench starts the api with ``API_EXPOSE_TIMELINE``)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from httpx_sse import aconnect_sse

from bench.stats import Sample
from bench.workload import Message


async def one_chat(
    client: httpx.AsyncClient, token: str, messages: list[Message], max_tokens: int
) -> Sample:
    body = {
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    started = time.perf_counter()
    ttft: float | None = None
    try:
        async with aconnect_sse(
            client, "POST", "/api/chat", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as sse:
            if sse.response.status_code != 200:
                await sse.response.aread()
                return Sample(
                    ttft_s=None,
                    completion_tokens=0,
                    ok=False,
                    error=f"http {sse.response.status_code}",
                )
            async for event in sse.aiter_sse():
                if event.event == "token" and ttft is None:
                    ttft = time.perf_counter() - started
                elif event.event == "done":
                    done = json.loads(event.data)
                    return Sample(
                        ttft_s=ttft,
                        completion_tokens=done["usage"]["completion_tokens"],
                        ok=True,
                        stages=done.get("timeline"),
                    )
                elif event.event == "error":
                    return Sample(
                        ttft_s=ttft,
                        completion_tokens=0,
                        ok=False,
                        error=json.loads(event.data).get("code", "error"),
                    )
    except httpx.HTTPError as exc:
        return Sample(ttft_s=ttft, completion_tokens=0, ok=False, error=type(exc).__name__)
    return Sample(ttft_s=ttft, completion_tokens=0, ok=False, error="stream ended early")


async def run_level(
    api_url: str, token: str, chats: list[list[Message]], concurrency: int, max_tokens: int
) -> tuple[list[Sample], float]:
    """Run ``chats`` with at most ``concurrency`` in flight; returns samples and wall time."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=api_url, timeout=300, limits=limits) as client:

        async def bounded(messages: list[Message]) -> Sample:
            async with gate:
                return await one_chat(client, token, messages, max_tokens)

        started = time.perf_counter()
        samples = await asyncio.gather(*(bounded(chat) for chat in chats))
        return list(samples), time.perf_counter() - started
