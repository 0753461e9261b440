"""The real api over a real nats-server, with ``WireStandInWorker`` in the worker's role.

The stand-in follows contracts/ only; tests against the real inference worker come later.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from httpx_sse import aconnect_sse
from nats.aio.client import Client as NatsClient

from contracts import codec, subjects
from contracts.events import RequestAccepted, RequestFailed
from tests.api.conftest import LiveApi
from tests.api.wire_stand_in import WireStandInWorker

pytestmark = pytest.mark.integration

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
async def http(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.base_url, headers=live_api.headers, timeout=TIMEOUT
    ) as client:
        yield client


async def _worker(nc: NatsClient, api: LiveApi, **kwargs: object) -> WireStandInWorker:
    worker = await WireStandInWorker(nc, api.settings.default_model, **kwargs).start()  # type: ignore[arg-type]
    for _ in range(100):  # until the api has seen a heartbeat
        if api.app.state["chat_service"].gateway.workers.serves(worker.model):
            return worker
        await asyncio.sleep(0.02)
    raise TimeoutError("api never saw the stand-in's heartbeat")


def _body(**extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": "say hello"}], **extra}


async def test_chat_streams_tokens_with_seq_ids(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, tokens=("Hel", "lo", " there"))
    try:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body()) as source:
            assert source.response.status_code == 200
            events = [sse async for sse in source.aiter_sse()]
        assert [e.event for e in events] == ["start", "token", "token", "token", "done"]
        request_id = events[0].json()["request_id"]
        assert request_id == source.response.headers["x-request-id"]
        assert [e.id for e in events[1:4]] == ["1", "2", "3"]
        assert "".join(e.json()["text"] for e in events[1:4]) == "Hello there"
        done = events[-1].json()
        assert done["finish_reason"] == "stop"
        assert done["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
        assert worker.requests[0].request_id == request_id
        assert worker.requests[0].user_id == "alice"
        assert worker.cancels_for(request_id) == []
        accepted = await _event(nats_client, subjects.EVENT_ACCEPTED, request_id)
        assert isinstance(accepted, RequestAccepted)
        assert accepted.model == worker.model
    finally:
        await worker.stop()


async def test_openai_client(live_api: LiveApi, nats_client: NatsClient) -> None:
    worker = await _worker(nats_client, live_api, tokens=("a", "b", "c"))
    client = openai.AsyncOpenAI(
        base_url=f"{live_api.base_url}/v1", api_key=live_api.token, max_retries=0, timeout=10
    )
    try:
        model = worker.model
        completion = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content == "abc"
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None
        assert completion.usage.completion_tokens == 3

        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, finish, usage = "", None, None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage is not None:
                usage = chunk.usage
        assert (text, finish) == ("abc", "stop")
        assert usage is not None
        assert usage.total_tokens == 4

        models = [m.id async for m in client.models.list()]
        assert models == [model, "other-model"]

        with pytest.raises(openai.NotFoundError) as info:
            await client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "hi"}]
            )
        assert info.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], temperature=5
            )
    finally:
        await client.close()
        await worker.stop()


async def test_no_worker_is_503(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/chat", json=_body())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    assert "retry-after" in response.headers
    ready = await http.get("/readyz")
    assert ready.status_code == 503


async def test_unknown_model_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/chat", json=_body(model="does-not-exist"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


async def test_cancel_route(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, mode="hang")
    try:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body()) as source:
            events = source.aiter_sse()
            start = await anext(events)
            request_id = start.json()["request_id"]
            other = httpx.AsyncClient(
                base_url=live_api.base_url,
                timeout=TIMEOUT,
                headers={"Authorization": "Bearer " + _token("mallory")},
            )
            async with other:
                assert (await other.post(f"/api/chat/{request_id}/cancel")).status_code == 404
            response = await http.post(f"/api/chat/{request_id}/cancel")
            assert response.status_code == 202
            last = await asyncio.wait_for(anext(events), 5)
        assert last.event == "error"
        assert last.json()["code"] == "cancelled"
        await _until(lambda: worker.cancels_for(request_id))
        assert worker.cancels_for(request_id)[0].reason == "client_cancelled"
    finally:
        await worker.stop()


async def test_client_disconnect_publishes_cancel(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, mode="hang")
    try:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body()) as source:
            start = await anext(source.aiter_sse())
            request_id = start.json()["request_id"]
            await _until(lambda: worker.requests)
        # leaving the block closes the connection mid-stream
        await _until(lambda: worker.cancels_for(request_id))
        assert worker.cancels_for(request_id)[0].reason == "client_disconnected"
        await _until(lambda: len(live_api.app.state["chat_service"].streams) == 0)
    finally:
        await worker.stop()


async def test_deadline_gives_timeout_and_cancel(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, mode="hang")
    try:
        began = time.monotonic()
        async with aconnect_sse(http, "POST", "/api/chat", json=_body(timeout_s=1)) as source:
            events = [sse async for sse in source.aiter_sse()]
        assert time.monotonic() - began < 4
        assert events[-1].event == "error"
        assert events[-1].json()["code"] == "timeout"
        request_id = events[0].json()["request_id"]
        await _until(lambda: worker.cancels_for(request_id))
        assert worker.cancels_for(request_id)[0].reason == "timeout"
    finally:
        await worker.stop()


async def test_deadline_when_no_worker_takes_it(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, take_requests=False)
    try:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body(timeout_s=0.5)) as source:
            events = [sse async for sse in source.aiter_sse()]
        assert [e.event for e in events] == ["start", "error"]
        assert events[-1].json()["code"] == "timeout"
        failed = await _event(nats_client, subjects.EVENT_FAILED, events[0].json()["request_id"])
        assert isinstance(failed, RequestFailed)
        assert failed.code == "timeout"
        assert failed.worker_id is None
    finally:
        await worker.stop()


async def test_worker_lost_mid_stream(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, mode="hang", interval_s=0.2)
    try:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body()) as source:
            events = source.aiter_sse()
            start = await anext(events)
            await _until(lambda: worker.requests)
            await asyncio.sleep(0.1)  # StreamStarted reaches the api
            worker.silence()
            silenced = time.monotonic()
            last = await asyncio.wait_for(anext(events), 5)
            lost_after = time.monotonic() - silenced
    finally:
        await worker.stop()
    assert last.event == "error"
    assert last.json()["code"] == "worker_lost"
    assert lost_after < 3.0
    failed = await _event(nats_client, subjects.EVENT_FAILED, start.json()["request_id"])
    assert isinstance(failed, RequestFailed)
    assert failed.code == "worker_lost"
    assert failed.worker_id == worker.worker_id


async def test_engine_error_event(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api, mode="error")
    try:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body()) as source:
            events = [sse async for sse in source.aiter_sse()]
        assert events[-1].event == "error"
        assert events[-1].json()["code"] == "engine_error"
    finally:
        await worker.stop()


async def test_readyz_lists_workers(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    worker = await _worker(nats_client, live_api)
    try:
        response = await http.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ready"
        [listed] = [w for w in body["workers"] if w["id"] == worker.worker_id]
        assert listed["model"] == worker.model
        assert listed["state"] == "ready"
        assert listed["capacity"] == 8
        assert 0 <= listed["last_seen_s"] < 1
    finally:
        await worker.stop()
    await _until(
        lambda: not live_api.app.state["chat_service"].gateway.workers.serves(worker.model)
    )
    assert (await http.get("/readyz")).status_code == 503


# --- helpers ---------------------------------------------------------------------------
def _token(user: str) -> str:
    from chat_api.auth import issue_token
    from tests.api.conftest import SECRET

    return issue_token(SECRET, user)


async def _until(predicate: object, timeout_s: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def _event(nc: NatsClient, subject: str, request_id: str) -> object:
    """The lifecycle event of ``request_id`` on ``subject`` from CHAT_EVENTS."""
    js = nc.jetstream()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sub = await js.subscribe(subject, ordered_consumer=True)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.3)
                except Exception:
                    break
                event = codec.decode_event(msg.data)
                if event.request_id == request_id:
                    return event
        finally:
            await sub.unsubscribe()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no {subject} event for {request_id}: {json.dumps(subject)}")
