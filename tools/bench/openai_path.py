"""Requests as an OpenAI client makes them: POST /v1/chat/completions with ``stream`` and
``stream_options.include_usage``, read until ``data: [DONE]``. The same client for the
platform and for vLLM's own OpenAI server, so their difference is the servers'."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from bench.stats import Sample
from bench.workload import Message


async def one_chat(
    client: httpx.AsyncClient,
    model: str,
    messages: list[Message],
    max_tokens: int,
    extra_body: dict[str, Any],
) -> Sample:
    body = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra_body,
    }
    started = time.perf_counter()
    ttft: float | None = None
    tokens = 0
    stages: dict[str, float] | None = None
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return Sample(
                    ttft_s=None, completion_tokens=0, ok=False, error=f"http {response.status_code}"
                )
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    return Sample(ttft_s=ttft, completion_tokens=tokens, ok=True, stages=stages)
                chunk = json.loads(data)
                if "error" in chunk:
                    return Sample(
                        ttft_s=ttft, completion_tokens=0, ok=False, error=chunk["error"]["code"]
                    )
                if ttft is None and any(c["delta"].get("content") for c in chunk["choices"]):
                    ttft = time.perf_counter() - started
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                stages = chunk.get("timeline", stages)  # the platform's, when it tells them
    except httpx.HTTPError as exc:
        return Sample(ttft_s=ttft, completion_tokens=0, ok=False, error=type(exc).__name__)
    return Sample(ttft_s=ttft, completion_tokens=0, ok=False, error="stream ended early")


async def run_level(
    base_url: str,
    headers: dict[str, str],
    model: str,
    chats: list[list[Message]],
    concurrency: int,
    max_tokens: int,
    extra_body: dict[str, Any] | None = None,
) -> tuple[list[Sample], float]:
    """Run ``chats`` with at most ``concurrency`` in flight; returns samples and wall time."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=300, limits=limits
    ) as client:

        async def bounded(messages: list[Message]) -> Sample:
            async with gate:
                return await one_chat(client, model, messages, max_tokens, extra_body or {})

        started = time.perf_counter()
        samples = await asyncio.gather(*(bounded(chat) for chat in chats))
        return list(samples), time.perf_counter() - started
