"""A conversation chat through the real api, persistence and a scripted worker: the
exchange is stored from the lifecycle events, the conversation gets a title, and the next
chat carries the stored history."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import nats
import pytest

from tests.api.persistence_stack import Stack
from tests.inference_worker.harness import running_worker, worker_env

pytestmark = pytest.mark.nats


async def _chat(stack: Stack, headers: dict[str, str], body: dict[str, Any]) -> str:
    async with stack.http.stream("POST", "/api/chat", json=body, headers=headers) as response:
        assert response.status_code == 200
        text = (await response.aread()).decode()
    assert "event: done" in text, text
    return text


async def _detail_when(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], ready: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        detail: dict[str, Any] = (await http.get(path, headers=headers)).json()
        if ready(detail):
            return detail
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.1)


async def test_conversation_chat_is_stored_titled_and_continued(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        env = worker_env(stack.nats_url, stack.settings.default_model)
        async with running_worker(nc, env):
            _, headers = await stack.user()
            created = await stack.http.post(
                "/api/conversations", json={"system_prompt": "Be brief."}, headers=headers
            )
            cid = created.json()["id"]
            path = f"/api/conversations/{cid}"
            await _chat(
                stack,
                headers,
                {
                    "conversation_id": cid,
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "Tell me about foxes"}],
                },
            )
            detail = await _detail_when(
                stack.http,
                path,
                headers,
                lambda d: len(d["messages"]) >= 2 and d["conversation"]["title"],
            )
            roles = [(m["role"], m["status"]) for m in detail["messages"]]
            assert roles == [("user", "complete"), ("assistant", "complete")]
            assert detail["messages"][0]["content"] == "Tell me about foxes"
            assert detail["messages"][1]["content"]
            title = detail["conversation"]["title"]
            assert 0 < len(title) <= 80
            assert "\n" not in title

            await _chat(
                stack,
                headers,
                {
                    "conversation_id": cid,
                    "max_tokens": 4,
                    "messages": [{"role": "user", "content": "And wolves?"}],
                },
            )
            detail = await _detail_when(
                stack.http, path, headers, lambda d: len(d["messages"]) >= 4
            )
            assert [m["content"] for m in detail["messages"]][2] == "And wolves?"
            assert detail["conversation"]["title"] == title  # named once
    finally:
        await nc.drain()
