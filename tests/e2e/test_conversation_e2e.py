"""A saved conversation end to end with the real engine: history in, answers stored,
automatic title. Runs on its own stack (module scope), beside test_chat_e2e."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from local_stack.launcher import Stack

pytestmark = [pytest.mark.vllm, pytest.mark.nats]


async def chat(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """The `done` event's data of one /api/chat stream."""
    async with aconnect_sse(client, "POST", "/api/chat", json=body) as sse:
        assert sse.response.status_code == 200, await sse.response.aread()
        async for event in sse.aiter_sse():
            if event.event in ("done", "error"):
                assert event.event == "done", event.data
                done: dict[str, Any] = json.loads(event.data)
                return done
    raise AssertionError("stream ended without done")


async def wait_for(client: httpx.AsyncClient, path: str, ready: Any, within_s: float) -> Any:
    started = time.monotonic()
    while True:
        response = await client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        if ready(body):
            return body
        if time.monotonic() - started > within_s:
            raise AssertionError(f"{path} not ready after {within_s} s: {body}")
        await asyncio.sleep(0.2)


async def test_chat_in_a_conversation_is_stored_with_history_and_title(
    live_stack: Stack, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=live_stack.settings.api_url, headers=headers, timeout=120
    ) as client:
        created = await client.post("/api/conversations", json={"system_prompt": "Be brief."})
        assert created.status_code == 201, created.text
        conversation_id = created.json()["id"]

        first = await chat(
            client,
            {
                "conversation_id": conversation_id,
                "messages": [{"role": "user", "content": "Name a colour."}],
                "max_tokens": 12,
                "temperature": 0,
            },
        )
        stored = await wait_for(
            client,
            f"/api/conversations/{conversation_id}",
            lambda body: len(body["messages"]) == 2,
            within_s=10,
        )
        second = await chat(
            client,
            {
                "conversation_id": conversation_id,
                "messages": [{"role": "user", "content": "Another one."}],
                "max_tokens": 12,
                "temperature": 0,
            },
        )
        # The second prompt carries the stored history: it is longer than the first.
        assert second["usage"]["prompt_tokens"] > first["usage"]["prompt_tokens"] + 5

        stored = await wait_for(
            client,
            f"/api/conversations/{conversation_id}",
            lambda body: len(body["messages"]) == 4 and body["conversation"]["title"],
            within_s=30,
        )
    roles = [m["role"] for m in stored["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert stored["messages"][0]["content"] == "Name a colour."
    answer = stored["messages"][1]
    assert answer["status"] == "complete"
    assert answer["token_out"] == first["usage"]["completion_tokens"]
    assert answer["token_in"] == first["usage"]["prompt_tokens"]
    assert stored["conversation"]["title"].strip()
