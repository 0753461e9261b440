"""Answers that survive the client: a client that leaves ``POST /api/chat`` detaches the
generation; ``GET /api/chat/{id}/events`` re-attaches (on any api instance) from its
``Last-Event-ID``. The real api (two instances for the cross-instance case), persistence
and the real worker over the session's nats-server; the worker's engine is the
``ScriptedEngine`` stand-in, paced so an answer takes a couple of seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from nats.aio.client import Client as NatsClient

from contracts import codec, subjects
from contracts.events import ChatEvent, RequestCancelled, RequestCompleted
from inference_worker.engine import ScriptedEngine
from inference_worker.settings import load_settings
from local_stack.ports import free_port
from tests.api.conftest import LiveApi, start_api
from tests.inference_worker.harness import running_worker, worker_env

pytestmark = pytest.mark.nats

GRACE_S = 1.0
TOKENS_PER_S = "20"
WAIT_S = 15.0


@pytest.fixture
def live_api_overrides() -> dict[str, Any]:
    return {"chat_detach_grace_s": GRACE_S}


@pytest.fixture
async def http(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.base_url, headers=live_api.headers, timeout=httpx.Timeout(20.0)
    ) as client:
        yield client


@asynccontextmanager
async def serving_worker(api: LiveApi, nc: NatsClient) -> AsyncIterator[None]:
    model = api.settings.default_model
    env = worker_env(api.settings.nats_url, model, WORKER_SCRIPTED_TOKENS_PER_S=TOKENS_PER_S)
    engine = ScriptedEngine.from_settings(load_settings(env))
    async with running_worker(nc, env, engine=engine):
        service = api.app.state["chat_service"]
        await _until(lambda: service.gateway.workers.serves(model))
        yield


async def _until(predicate: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _body(content: str, **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": content}], **extra}


async def _leave_after(
    http: httpx.AsyncClient, body: dict[str, object], tokens: int
) -> tuple[str, list[ServerSentEvent]]:
    """POST a chat, read ``tokens`` token events, then drop the connection."""
    seen: list[ServerSentEvent] = []
    async with aconnect_sse(http, "POST", "/api/chat", json=body) as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():
            seen.append(event)
            if sum(e.event == "token" for e in seen) == tokens:
                break
    return seen[0].json()["request_id"], seen


async def _attach(
    http: httpx.AsyncClient, request_id: str, last_id: str | None = None
) -> list[ServerSentEvent]:
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    async with aconnect_sse(
        http, "GET", f"/api/chat/{request_id}/events", headers=headers
    ) as source:
        assert source.response.status_code == 200, await source.response.aread()
        return [event async for event in source.aiter_sse()]


def _text(events: list[ServerSentEvent]) -> str:
    return "".join(e.json()["text"] for e in events if e.event == "token")


async def _terminal_events(nc: NatsClient, request_id: str) -> list[ChatEvent]:
    """Every terminal lifecycle event of the request in CHAT_EVENTS so far."""
    js = nc.jetstream()
    sub = await js.subscribe(subjects.EVENT_SUBJECTS, ordered_consumer=True)
    found: list[ChatEvent] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.3)
            except Exception:
                return found
            event = codec.decode_event(msg.data)
            if event.request_id == request_id and not event.__class__.__name__.endswith("Accepted"):
                found.append(event)
    finally:
        await sub.unsubscribe()


async def _ended(nc: NatsClient, request_id: str) -> list[ChatEvent]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        events = await _terminal_events(nc, request_id)
        if events:
            return events
    raise AssertionError(f"request {request_id} never ended")


async def test_reattach_continues_with_no_gap_and_nothing_doubled(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client):
        request_id, first = await _leave_after(http, _body("tell me [[tokens=40]]"), tokens=5)
        last_id = [e.id for e in first if e.event == "token"][-1]
        rest = await _attach(http, request_id, last_id)
        assert rest[0].event == "start"
        assert rest[0].json()["request_id"] == request_id
        assert rest[-1].event == "done"
        ids = [int(e.id) for e in rest if e.event == "token"]
        assert ids == list(range(int(last_id) + 1, int(last_id) + 1 + len(ids)))
        events = await _ended(nats_client, request_id)
    assert len(events) == 1  # one ending, so one usage record
    completed = events[0]
    assert isinstance(completed, RequestCompleted)
    assert _text(first) + _text(rest) == completed.text
    assert rest[-1].json()["usage"]["completion_tokens"] == completed.usage.completion_tokens


async def test_reattach_after_the_end_replays_the_whole_answer(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client):
        request_id, _ = await _leave_after(http, _body("short [[tokens=6]]"), tokens=1)
        completed = (await _ended(nats_client, request_id))[0]
        assert isinstance(completed, RequestCompleted)
        whole = await _attach(http, request_id)
    assert _text(whole) == completed.text
    assert [e.event for e in whole][-1] == "done"


async def test_a_detached_chat_nobody_reattaches_is_cancelled_after_the_grace(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client):
        left_at = time.monotonic()
        request_id, _ = await _leave_after(http, _body("go on [[hang]]"), tokens=0)
        events = await _ended(nats_client, request_id)
        waited = time.monotonic() - left_at
    assert isinstance(events[0], RequestCancelled)
    assert events[0].reason == "client_disconnected"
    assert waited >= GRACE_S


async def test_a_watching_client_keeps_the_generation_past_the_grace(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    """Re-attached on a second api instance: the first (which detached it) hears the
    watch and does not cancel, though the answer outlasts the grace several times."""
    second = replace(live_api.settings, port=free_port())
    server, task, _ = await start_api(second)
    try:
        async with serving_worker(live_api, nats_client):
            body = _body("long one [[tokens=80]]")
            request_id, first = await _leave_after(http, body, tokens=2)
            other_url = f"http://127.0.0.1:{second.port}"
            async with httpx.AsyncClient(
                base_url=other_url, headers=live_api.headers, timeout=20.0
            ) as other:
                last_id = [e.id for e in first if e.event == "token"][-1]
                rest = await _attach(other, request_id, last_id)
            events = await _ended(nats_client, request_id)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
    assert rest[-1].event == "done"
    assert isinstance(events[0], RequestCompleted)
    assert _text(first) + _text(rest) == events[0].text


async def test_reattach_is_the_owners_and_checks_its_input(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    email, password = f"other-{uuid.uuid4().hex[:8]}@example.com", "password-123"
    assert (
        await http.post("/api/auth/register", json={"email": email, "password": password})
    ).status_code == 201
    login = await http.post("/api/auth/login", json={"email": email, "password": password})
    other = {"Authorization": f"Bearer {login.json()['access_token']}"}
    async with serving_worker(live_api, nats_client):
        request_id, _ = await _leave_after(http, _body("mine [[tokens=3]]"), tokens=1)
        for headers, path in (
            (other, f"/api/chat/{request_id}/events"),
            (live_api.headers, "/api/chat/no-such-request/events"),
        ):
            refused = await http.get(path, headers=headers)
            assert refused.status_code == 404
            assert refused.json()["error"]["code"] == "not_found"
        bad = await http.get(f"/api/chat/{request_id}/events", headers={"Last-Event-ID": "x1"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "Last-Event-ID"
        anonymous = await http.get(f"/api/chat/{request_id}/events", headers={"Authorization": ""})
        assert anonymous.status_code == 401


async def test_an_expired_capture_is_410(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client):
        body = _body("brief [[tokens=3]]", timeout_s=1.0)
        request_id, _ = await _leave_after(http, body, tokens=1)
        await _ended(nats_client, request_id)
    # What the capture's age limit does after 15 minutes, done now.
    await nats_client.jetstream().purge_stream(
        subjects.CHUNKS_STREAM, subject=subjects.request_chunk_subjects(request_id)
    )
    await asyncio.sleep(1.0)  # past the request's deadline
    gone = await http.get(f"/api/chat/{request_id}/events")
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "stream_expired"


async def test_the_conversation_names_its_running_chat(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    created = await http.post("/api/conversations", json={})
    conversation_id = created.json()["id"]
    async with serving_worker(live_api, nats_client):
        body = _body("in a conversation [[tokens=40]]", conversation_id=conversation_id)
        request_id, first = await _leave_after(http, body, tokens=2)
        read = await http.get(f"/api/conversations/{conversation_id}")
        assert read.json()["active_request_id"] == request_id
        # Another tab: it re-attaches from the start and sees the whole answer.
        whole = await _attach(http, request_id)
        assert _text(whole).startswith(_text(first))
        await _ended(nats_client, request_id)

        async def cleared() -> bool:
            page = await http.get(f"/api/conversations/{conversation_id}")
            return page.json()["active_request_id"] is None

        deadline = time.monotonic() + WAIT_S
        while not await cleared():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
