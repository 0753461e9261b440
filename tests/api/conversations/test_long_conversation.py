"""A conversation larger than one NATS message, through the real api, persistence (over
NATS) and a scripted worker. Its 1.5 MB of messages used to make every read a 2 s wait
then a 503 "retry later", for ever: persistence's one reply was over the 1 MB payload and
never sent. Now: reads are pages that say older ones exist and how to get them, the
export pages through it all, and a chat in it asks only for the history it can use."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from contracts import subjects
from contracts.codec import decode_chat_request
from contracts.inference import ChatRequest
from tests.api.persistence_stack import Stack
from tests.inference_worker.harness import running_worker, worker_env
from tests.persistence import events_factory as ev
from tests.persistence.harness import publish

pytestmark = pytest.mark.nats

EXCHANGES = 25
TURN_CHARS = 30_000  # a pasted document: within MAX_INPUT_CHARS (32,000)


def big(kind: str, i: int) -> str:
    head = f"{kind}{i}:"
    return head + "x" * (TURN_CHARS - len(head))


async def test_a_conversation_over_the_nats_payload_reads_exports_and_chats(
    stack: Stack,
) -> None:
    user, headers = await stack.user()
    cid = (await stack.http.post("/api/conversations", json={}, headers=headers)).json()["id"]
    path = f"/api/conversations/{cid}"
    nc = await nats.connect(stack.nats_url)
    try:
        # 25 exchanges of 2 x 30,000 characters (1.5 MB), then a short one, stored from
        # the lifecycle events as a chat's would be.
        js = nc.jetstream()
        at = time.time() - 1000
        for i in range(EXCHANGES):
            request_id = f"big-{cid}-{i}"
            await publish(js, ev.accepted(request_id, cid, user["id"], big("q", i), at=at + 2 * i))
            await publish(
                js, ev.completed(request_id, cid, user["id"], big("a", i), at=at + 2 * i + 1)
            )
        short = f"short-{cid}"
        await publish(js, ev.accepted(short, cid, user["id"], "short question", at=at + 100))
        await publish(js, ev.completed(short, cid, user["id"], "short answer", at=at + 101))
        total = 2 * EXCHANGES + 2

        deadline = time.monotonic() + 20
        while True:
            started = time.monotonic()
            response = await stack.http.get(path, headers=headers)
            assert response.status_code == 200, response.text  # was 503 after 2 s
            assert time.monotonic() - started < 1.5
            page = response.json()
            if page["conversation"]["message_count"] == total:
                break
            assert time.monotonic() < deadline, page["conversation"]
            await asyncio.sleep(0.2)

        # The newest page: bounded, oldest first, and a way to older messages.
        assert page["has_more"] is True
        assert page["next_before"] == page["messages"][0]["id"]
        assert [m["content"] for m in page["messages"][-2:]] == ["short question", "short answer"]
        assert 2 < len(page["messages"]) < total
        assert len(response.content) < 1024 * 1024

        # Paging back reaches the oldest message, each message once, in order.
        contents = [m["content"] for m in page["messages"]]
        while page["has_more"]:
            response = await stack.http.get(
                path, params={"before": page["next_before"], "limit": 1000}, headers=headers
            )
            assert response.status_code == 200, response.text
            page = response.json()
            contents = [m["content"] for m in page["messages"]] + contents
        assert page["next_before"] is None
        expected = [
            *(text for i in range(EXCHANGES) for text in (big("q", i), big("a", i))),
            "short question",
            "short answer",
        ]
        assert contents == expected

        # The export holds everything (JSON and Markdown).
        exported = await stack.http.get(f"{path}/export", headers=headers)
        assert exported.status_code == 200, exported.text
        body = exported.json()
        assert [m["content"] for m in body["messages"]] == expected
        assert body["has_more"] is False
        markdown = await stack.http.get(f"{path}/export?format=markdown", headers=headers)
        assert markdown.status_code == 200
        assert markdown.text.count("## User") == EXCHANGES + 1
        assert big("q", 0) in markdown.text

        # A chat in it works, with the recent history that fits MAX_INPUT_CHARS.
        sent: list[ChatRequest] = []

        async def seen(msg: Msg) -> None:
            sent.append(decode_chat_request(msg.data))

        model = stack.settings.default_model
        sub = await nc.subscribe(subjects.request_subject(model), cb=seen)
        env = worker_env(stack.nats_url, model)
        async with running_worker(nc, env):
            body_out: dict[str, Any] = {
                "conversation_id": cid,
                "max_tokens": 4,
                "messages": [{"role": "user", "content": "And now?"}],
            }
            async with stack.http.stream(
                "POST", "/api/chat", json=body_out, headers=headers
            ) as chat:
                assert chat.status_code == 200
                text = (await chat.aread()).decode()
            assert "event: done" in text, text
        await sub.unsubscribe()
        (request,) = sent
        # The 30,000-character answer before the short exchange fits too, but a history
        # never starts with an answer cut from its question.
        assert [(m.role, m.content) for m in request.messages] == [
            ("user", "short question"),
            ("assistant", "short answer"),
            ("user", "And now?"),
        ]
    finally:
        await nc.drain()
