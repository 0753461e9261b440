"""End to end through the real front door with the real vLLM CPU engine.

The last test kills the worker, so it stays last in this module (the stack is
module-scoped). Crash and timing edge cases with a stand-in engine live in
tests/integration/.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import openai
import pytest
from httpx_sse import aconnect_sse
from openai.types.chat import ChatCompletionMessageParam

from local_stack.launcher import Stack

pytestmark = [pytest.mark.vllm, pytest.mark.nats]

MODEL = "gemma3-270m"
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write one sentence about the sea."}
]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def collect_chat(
    client: httpx.AsyncClient,
    token: str,
    body: dict[str, Any],
) -> list[tuple[str, str, dict[str, Any]]]:
    """(event, id, data) for every SSE event of one /api/chat stream."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    async with aconnect_sse(client, "POST", "/api/chat", json=body, headers=auth(token)) as sse:
        assert sse.response.status_code == 200
        assert sse.response.headers["content-type"].startswith("text/event-stream")
        async for event in sse.aiter_sse():
            events.append((event.event, event.id, json.loads(event.data)))
    return events


def in_flight(stack: Stack) -> int:
    state = stack.readiness()
    assert state is not None
    return sum(int(worker["in_flight"]) for worker in state.workers)


def wait_idle(stack: Stack, within_s: float) -> float:
    started = time.monotonic()
    while in_flight(stack) != 0:
        if time.monotonic() - started > within_s:
            raise AssertionError(f"in_flight still {in_flight(stack)} after {within_s} s")
        time.sleep(0.1)
    return time.monotonic() - started


async def test_api_chat_streams_tokens_with_sequence_ids(live_stack: Stack, token: str) -> None:
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=60) as client:
        events = await collect_chat(
            client, token, {"messages": HELLO, "max_tokens": 24, "temperature": 0}
        )
    kinds = [kind for kind, _, _ in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "done"
    tokens = [(int(event_id), data["text"]) for kind, event_id, data in events if kind == "token"]
    assert tokens, "no token events"
    ids = [event_id for event_id, _ in tokens]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[0] >= 1
    assert "".join(text for _, text in tokens).strip()
    usage = events[-1][2]["usage"]
    assert usage["prompt_tokens"] > 0
    assert 1 <= usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_openai_client_streaming(live_stack: Stack, token: str) -> None:
    client = openai.OpenAI(base_url=f"{live_stack.settings.api_url}/v1", api_key=token)
    assert MODEL in [model.id for model in client.models.list()]
    stream = client.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text.strip()
    assert finish in ("stop", "length")
    assert usage is not None
    assert 1 <= usage.completion_tokens <= 16


def test_openai_client_non_streaming_matches_greedy_stream(live_stack: Stack, token: str) -> None:
    client = openai.OpenAI(base_url=f"{live_stack.settings.api_url}/v1", api_key=token)
    completion = client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=16, temperature=0
    )
    assert completion.object == "chat.completion"
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content
    assert message.content.strip()
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 16
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=16, temperature=0, stream=True
        )
        if chunk.choices
    )
    assert streamed == message.content


async def test_five_concurrent_chats_all_finish(live_stack: Stack, token: str) -> None:
    prompts = ["a cat", "the moon", "rivers", "a city", "winter"]
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=120) as client:
        results = await asyncio.gather(
            *(
                collect_chat(
                    client,
                    token,
                    {
                        "messages": [{"role": "user", "content": f"Tell me about {p}."}],
                        "max_tokens": 32,
                    },
                )
                for p in prompts
            )
        )
    for events in results:
        assert events[-1][0] == "done", events[-1]
        assert events[-1][2]["usage"]["completion_tokens"] >= 1
    wait_idle(live_stack, within_s=5)


async def test_client_disconnect_on_v1_aborts_generation(live_stack: Stack, token: str) -> None:
    """OpenAI clients expect a closed stream to stop the generation (on /api/chat the
    answer is detached instead, for a re-attach: tests/api/chat/test_resume.py)."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Count from one to one thousand."}],
        "max_tokens": 2000,
        "temperature": 1.0,
        "stream": True,
    }
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=60) as client:
        async with client.stream(
            "POST", "/v1/chat/completions", json=body, headers=auth(token)
        ) as response:
            assert response.status_code == 200
            # Read chunks until the worker's heartbeat (every second) shows the generation.
            busy = False
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    busy = await asyncio.to_thread(in_flight, live_stack) >= 1
                if busy:
                    break
            assert busy
    # Leaving the block closed the connection mid-stream.
    took = await asyncio.to_thread(wait_idle, live_stack, 5.0)
    assert took < 5.0


async def test_cancel_route_ends_the_stream(live_stack: Stack, token: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 2000,
        "temperature": 1.0,
    }
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=60) as client:
        events: list[tuple[str, dict[str, Any]]] = []
        async with aconnect_sse(client, "POST", "/api/chat", json=body, headers=auth(token)) as sse:
            async for event in sse.aiter_sse():
                data = json.loads(event.data)
                events.append((event.event, data))
                if event.event == "start":
                    response = await client.post(
                        f"/api/chat/{data['request_id']}/cancel", headers=auth(token)
                    )
                    assert response.status_code in (200, 202)
    assert events[-1][0] in ("error", "done")
    if events[-1][0] == "error":
        assert events[-1][1]["code"] == "cancelled"
    else:
        assert events[-1][1]["finish_reason"] == "cancelled"
    await asyncio.to_thread(wait_idle, live_stack, 5.0)


async def test_deadline_gives_timeout_error_and_stops_engine(live_stack: Stack, token: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 2000,
        "temperature": 1.0,
        "timeout_s": 2,
    }
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=60) as client:
        started = time.monotonic()
        events = await collect_chat(client, token, body)
        took = time.monotonic() - started
    assert events[-1][0] == "error"
    assert events[-1][2]["code"] == "timeout"
    assert took < 6
    await asyncio.to_thread(wait_idle, live_stack, 5.0)


async def test_worker_killed_mid_stream_gives_error_event(live_stack: Stack, token: str) -> None:
    """Keep this last: it kills the only worker of the module's stack."""
    body = {
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 2000,
        "temperature": 1.0,
    }
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=60) as client:
        events: list[tuple[str, dict[str, Any]]] = []
        killed_at = 0.0
        async with aconnect_sse(client, "POST", "/api/chat", json=body, headers=auth(token)) as sse:
            async for event in sse.aiter_sse():
                events.append((event.event, json.loads(event.data)))
                if event.event == "token" and not killed_at:
                    live_stack.workers[0].kill()
                    killed_at = time.monotonic()
        ended_after = time.monotonic() - killed_at
    assert killed_at
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == "worker_lost"
    assert ended_after < 10
    # The api noticed the worker is gone, so a new chat is refused at once, not hung.
    async with httpx.AsyncClient(base_url=live_stack.settings.api_url, timeout=30) as client:
        response = await client.post("/api/chat", json={"messages": HELLO}, headers=auth(token))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
