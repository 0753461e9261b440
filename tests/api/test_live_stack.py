"""The real api over a real nats-server, with the REAL inference worker in the worker role.

The only stand-in is the worker's engine: ``ScriptedEngine`` (``WORKER_ENGINE=scripted``),
steered by directives in the prompt (``[[tokens=N]]``, ``[[hang]]``, ``[[fail]]``). The
worker runs in this event loop (``inference_worker.app.run``), except where it must die
like a crashed process: there it is a ``python -m inference_worker`` subprocess killed with
SIGKILL. Wire-level oddities the real worker never produces (a chunk gap, a duplicate
chunk) are unit tests of the relay in test_relay.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from httpx_sse import aconnect_sse
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from openai.types.chat import ChatCompletionMessageParam

from chat_api.chat import ChatService
from contracts import codec, subjects
from contracts.events import (
    ChatEvent,
    RequestAccepted,
    RequestCancelled,
    RequestCompleted,
    RequestFailed,
)
from inference_worker.engine import ScriptedEngine
from inference_worker.settings import load_settings
from local_stack.ports import free_port
from local_stack.processes import ManagedProcess
from tests.api.conftest import LIVE_USER_ID, LiveApi, start_api
from tests.inference_worker.harness import Heartbeats, RunningWorker, running_worker, worker_env

pytestmark = pytest.mark.nats

TIMEOUT = httpx.Timeout(10.0)
WAIT_S = 10.0
"""Bound for "this happens soon" conditions (polled, never slept)."""
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_api_overrides() -> dict[str, Any]:
    # These tests are about what a client leaving cancels; detaching (the default of
    # POST /api/chat) is tested in tests/api/chat/test_resume.py.
    return {"chat_detach_grace_s": 0.0}


@pytest.fixture
async def http(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.base_url, headers=live_api.headers, timeout=TIMEOUT
    ) as client:
        yield client


@dataclass
class ApiWorker:
    """A real worker serving the api's default model, with its scripted engine at hand."""

    run: RunningWorker
    engine: ScriptedEngine

    @property
    def worker_id(self) -> str:
        return self.run.settings.worker_id

    @property
    def model(self) -> str:
        return self.run.settings.model

    @property
    def heartbeats(self) -> Heartbeats:
        return self.run.heartbeats


def _service(api: LiveApi) -> ChatService:
    service: ChatService = api.app.state["chat_service"]
    return service


@asynccontextmanager
async def serving_worker(api: LiveApi, nc: NatsClient, **env: str) -> AsyncIterator[ApiWorker]:
    """The real worker in this event loop, ready and seen by the api; stopped (drained) on
    exit."""
    model = api.settings.default_model
    full_env = worker_env(api.settings.nats_url, model, **env)
    engine = ScriptedEngine.from_settings(load_settings(full_env))
    async with running_worker(nc, full_env, engine=engine) as run:
        await _until(lambda: _service(api).gateway.workers.serves(model))
        yield ApiWorker(run, engine)


def _body(content: str = "say hello", **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": content}], **extra}


async def test_chat_streams_tokens_with_seq_ids(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    cancels: list[str] = []

    async def on_cancel(msg: Msg) -> None:
        cancels.append(codec.decode_cancel(msg.data).request_id)

    cancel_sub = await nats_client.subscribe(subjects.CANCEL_SUBJECTS, cb=on_cancel)
    try:
        async with serving_worker(live_api, nats_client) as worker:
            async with aconnect_sse(
                http, "POST", "/api/chat", json=_body("say hello [[tokens=3]]")
            ) as source:
                assert source.response.status_code == 200
                events = [sse async for sse in source.aiter_sse()]
            request_id = events[0].json()["request_id"]
            completed = await _event(nats_client, request_id, RequestCompleted)
    finally:
        await cancel_sub.unsubscribe()

    assert [e.event for e in events] == ["start", "token", "token", "token", "done"]
    assert request_id == source.response.headers["x-request-id"]
    assert [e.id for e in events[1:4]] == ["1", "2", "3"]
    assert "".join(e.json()["text"] for e in events[1:4]) == "The quick brown "
    done = events[-1].json()
    assert done["finish_reason"] == "stop"
    prompt_tokens = done["usage"]["prompt_tokens"]
    assert prompt_tokens > 0
    assert done["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 3,
        "total_tokens": prompt_tokens + 3,
    }
    # The worker generated it, for the caller, and reported the same usage.
    assert request_id in worker.engine.prompts
    assert isinstance(completed, RequestCompleted)
    assert (completed.user_id, completed.worker_id) == (LIVE_USER_ID, worker.worker_id)
    assert completed.usage is not None
    assert completed.usage.prompt_tokens == prompt_tokens
    assert completed.usage.completion_tokens == 3
    # A stream that ended on its own is not cancelled (nothing published by now).
    await nats_client.flush()
    assert request_id not in cancels
    accepted = await _event(nats_client, request_id, RequestAccepted)
    assert isinstance(accepted, RequestAccepted)
    assert accepted.model == worker.model


async def test_openai_client(live_api: LiveApi, nats_client: NatsClient) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{live_api.base_url}/v1", api_key=live_api.token, max_retries=0, timeout=10
    )
    hi: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi [[tokens=3]]"}]
    try:
        async with serving_worker(live_api, nats_client) as worker:
            model = worker.model
            completion = await client.chat.completions.create(model=model, messages=hi)
            assert completion.choices[0].message.content == "The quick brown "
            assert completion.choices[0].finish_reason == "stop"
            assert completion.usage is not None
            assert completion.usage.completion_tokens == 3
            assert completion.usage.prompt_tokens > 0

            stream = await client.chat.completions.create(
                model=model,
                messages=hi,
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
            assert (text, finish) == ("The quick brown ", "stop")
            assert usage is not None
            assert usage.completion_tokens == 3
            assert usage.total_tokens == usage.prompt_tokens + 3

            models = [m.id async for m in client.models.list()]
            assert models == [model, "other-model"]

            with pytest.raises(openai.NotFoundError) as info:
                await client.chat.completions.create(model="nope", messages=hi)
            assert info.value.code == "model_not_found"
            with pytest.raises(openai.BadRequestError):
                await client.chat.completions.create(
                    model=model,
                    messages=hi,
                    temperature=5,
                )
    finally:
        await client.close()


async def test_no_worker_is_503(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/chat", json=_body())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    assert "retry-after" in response.headers
    ready = await http.get("/readyz")
    assert ready.status_code == 503


async def _registered_user(live_api: LiveApi) -> dict[str, str]:
    """A second, ordinary user (registered and logged in): auth headers."""
    email = f"mallory-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": "a long enough password"}
    async with httpx.AsyncClient(base_url=live_api.base_url, timeout=TIMEOUT) as client:
        assert (await client.post("/api/auth/register", json=credentials)).status_code == 201
        login = await client.post("/api/auth/login", json=credentials)
        assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_unknown_model_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/chat", json=_body(model="does-not-exist"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


async def test_cancel_route_aborts_the_generation(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client) as worker:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[hang]]")) as source:
            events = source.aiter_sse()
            start = await anext(events)
            request_id = start.json()["request_id"]
            await _busy(worker)  # generating
            other = httpx.AsyncClient(
                base_url=live_api.base_url,
                timeout=TIMEOUT,
                headers=await _registered_user(live_api),
            )
            async with other:
                assert (await other.post(f"/api/chat/{request_id}/cancel")).status_code == 404
            response = await http.post(f"/api/chat/{request_id}/cancel")
            assert response.status_code == 202
            last = await asyncio.wait_for(anext(events), 5)
        assert last.event == "error"
        assert last.json()["code"] == "cancelled"
        cancelled = await _event(nats_client, request_id, RequestCancelled)
        await _idle_after(worker, cancelled)
    assert isinstance(cancelled, RequestCancelled)
    assert (cancelled.reason, cancelled.worker_id) == ("client_cancelled", worker.worker_id)


async def test_cancel_through_another_api_instance(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    """Behind a load balancer the cancel may reach an instance that does not relay the
    chat: it asks the others over NATS, and only the owner's (or an admin's) works."""
    server, task, _ = await start_api(replace(live_api.settings, port=free_port()))
    second = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=TIMEOUT)
    try:
        async with serving_worker(live_api, nats_client) as worker:
            user = await _registered_user(live_api)
            async with aconnect_sse(
                http, "POST", "/api/chat", json=_body("[[hang]]"), headers=user
            ) as source:
                events = source.aiter_sse()
                request_id = (await anext(events)).json()["request_id"]
                await _busy(worker)
                stranger = await _registered_user(live_api)
                refused = await second.post(f"/api/chat/{request_id}/cancel", headers=stranger)
                assert refused.status_code == 404, refused.text
                unknown = await second.post(f"/api/chat/{uuid.uuid4().hex}/cancel", headers=user)
                assert unknown.status_code == 404, unknown.text
                accepted = await second.post(f"/api/chat/{request_id}/cancel", headers=user)
                assert accepted.status_code == 202, accepted.text
                last = await asyncio.wait_for(anext(events), 5)
            assert (last.event, last.json()["code"]) == ("error", "cancelled")
            cancelled = await _event(nats_client, request_id, RequestCancelled)
            await _idle_after(worker, cancelled)
        assert isinstance(cancelled, RequestCancelled)
        assert cancelled.reason == "client_cancelled"
    finally:
        await second.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_client_disconnect_aborts_the_generation(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client) as worker:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[hang]]")) as source:
            events = source.aiter_sse()  # keep it: a dropped iterator closes the stream
            request_id = (await anext(events)).json()["request_id"]
            await _busy(worker)  # generating
        # leaving the block closes the connection mid-stream
        cancelled = await _event(nats_client, request_id, RequestCancelled)
        await _idle_after(worker, cancelled)
        await _until(lambda: len(_service(live_api).streams) == 0)
    assert isinstance(cancelled, RequestCancelled)
    assert cancelled.reason == "client_disconnected"


async def test_deadline_gives_timeout_and_stops_the_generation(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client) as worker:
        async with aconnect_sse(
            http, "POST", "/api/chat", json=_body("[[hang]]", timeout_s=1)
        ) as source:
            events = [sse async for sse in source.aiter_sse()]
        assert [e.event for e in events] == ["start", "error"]
        assert events[-1].json()["code"] == "timeout"
        request_id = events[0].json()["request_id"]
        # The worker's deadline and the api's cancel (reason timeout) race: either ends it.
        ended = await _event(nats_client, request_id, RequestFailed, RequestCancelled)
        await _idle_after(worker, ended)
    assert request_id in worker.engine.prompts  # it did start generating
    if isinstance(ended, RequestFailed):
        assert (ended.code, ended.worker_id) == ("timeout", worker.worker_id)
    else:
        assert isinstance(ended, RequestCancelled)
        assert (ended.reason, ended.worker_id) == ("timeout", worker.worker_id)


async def test_deadline_when_no_worker_takes_it(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    # One slot, held by a hanging generation: the worker is ready but pulls nothing more.
    async with serving_worker(live_api, nats_client, WORKER_MAX_NUM_SEQS="1") as worker:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[hang]]")) as busy:
            busy_events = busy.aiter_sse()  # keep it: a dropped iterator closes the stream
            busy_id = (await anext(busy_events)).json()["request_id"]
            await _until(lambda: busy_id in worker.engine.prompts)
            async with aconnect_sse(
                http, "POST", "/api/chat", json=_body("[[tokens=1]]", timeout_s=0.5)
            ) as source:
                events = [sse async for sse in source.aiter_sse()]
            request_id = events[0].json()["request_id"]
            assert request_id not in worker.engine.prompts
        assert [e.event for e in events] == ["start", "error"]
        assert events[-1].json()["code"] == "timeout"
        failed = await _event(nats_client, request_id, RequestFailed)
        assert isinstance(failed, RequestFailed)
        assert failed.code == "timeout"
        assert failed.worker_id is None
        await _event(nats_client, busy_id, RequestCancelled)  # the busy one, disconnected


async def test_a_queued_request_whose_client_leaves_is_withdrawn(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    """Nobody would hear this cancel when the worker frees up (or a new one starts):
    the request leaves the queue at once and the api reports it cancelled."""
    async with serving_worker(live_api, nats_client, WORKER_MAX_NUM_SEQS="1") as worker:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[hang]]")) as busy:
            busy_events = busy.aiter_sse()  # keep it: a dropped iterator closes the stream
            busy_id = (await anext(busy_events)).json()["request_id"]
            await _until(lambda: busy_id in worker.engine.prompts)
            async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[tokens=3]]")) as q:
                request_id = (await anext(q.aiter_sse())).json()["request_id"]
            # left while queued behind the busy one
            cancelled = await _event(nats_client, request_id, RequestCancelled)
        await _event(nats_client, busy_id, RequestCancelled)  # the busy one, disconnected
        await _idle_after(worker, cancelled)
        info = await nats_client.jetstream().consumer_info(
            subjects.REQUESTS_STREAM, subjects.request_consumer(worker.model)
        )
    assert isinstance(cancelled, RequestCancelled)
    assert (cancelled.reason, cancelled.worker_id) == ("client_disconnected", None)
    assert request_id not in worker.engine.prompts  # never generated
    assert info.num_pending == 0


async def test_worker_lost_mid_stream(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient, tmp_path: Path
) -> None:
    """A worker PROCESS killed with SIGKILL: no drain, no goodbye heartbeat."""
    model = live_api.settings.default_model
    env = worker_env(live_api.settings.nats_url, model)
    heartbeats = Heartbeats()
    hb_sub = await nats_client.subscribe(
        subjects.heartbeat_subject(env["WORKER_ID"]), cb=heartbeats.on_msg
    )
    await nats_client.flush()
    process = ManagedProcess("worker", "inference_worker", env, tmp_path / "worker.log")
    process.start()
    try:
        try:
            await heartbeats.wait_for("ready", within=30)
        except TimeoutError:
            pytest.fail(f"worker never ready:\n{process.log_tail()}")
        await _until(lambda: _service(live_api).gateway.workers.serves(model))
        async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[hang]]")) as source:
            events = source.aiter_sse()
            start = await anext(events)
            request_id = start.json()["request_id"]
            # The api has the worker's StreamStarted: it watches that worker now.
            await _until(lambda: _owner(live_api, request_id) == env["WORKER_ID"])
            process.kill()
            last = await asyncio.wait_for(anext(events), 5)
    finally:
        process.kill()
        await hb_sub.unsubscribe()
    assert last.event == "error", process.log_tail()
    assert last.json()["code"] == "worker_lost"
    assert "stopped" not in heartbeats.states()
    failed = await _event(nats_client, request_id, RequestFailed)
    assert isinstance(failed, RequestFailed)
    assert failed.code == "worker_lost"
    assert failed.worker_id == env["WORKER_ID"]


async def test_engine_error_event(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client) as worker:
        async with aconnect_sse(http, "POST", "/api/chat", json=_body("[[fail]]")) as source:
            events = [sse async for sse in source.aiter_sse()]
        request_id = events[0].json()["request_id"]
        failed = await _event(nats_client, request_id, RequestFailed)
    # [[fail]]: the engine raises after its first token.
    assert [e.event for e in events] == ["start", "token", "error"]
    assert events[-1].json()["code"] == "engine_error"
    assert isinstance(failed, RequestFailed)
    assert (failed.code, failed.worker_id) == ("engine_error", worker.worker_id)


async def test_readyz_lists_workers(
    live_api: LiveApi, http: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    async with serving_worker(live_api, nats_client, WORKER_MAX_NUM_SEQS="4") as worker:
        response = await http.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ready"
        [listed] = [w for w in body["workers"] if w["id"] == worker.worker_id]
        assert listed["model"] == worker.model
        assert listed["state"] == "ready"
        assert listed["capacity"] == 4
        assert listed["in_flight"] == 0
        assert listed["live"] is True
        assert listed["last_seen_s"] >= 0
        assert body["services"]["persistence"] == "ok"  # this test runs persistence
        assert set(body["services"]) == {"persistence", "metering", "model_admin"}
    # The worker said "stopped" on its way out: the api drops it at once.
    await _until(lambda: not _service(live_api).gateway.workers.serves(worker.model))
    assert (await http.get("/readyz")).status_code == 503


# --- helpers ---------------------------------------------------------------------------
async def _until(predicate: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def _busy(worker: ApiWorker) -> None:
    """Until a heartbeat shows a generation in flight."""
    await worker.heartbeats.wait_until(lambda s: s.in_flight > 0)


async def _idle_after(worker: ApiWorker, ended: ChatEvent) -> None:
    """Until a heartbeat sent after the worker reported ``ended`` shows nothing in flight,
    and the engine runs nothing either."""
    await _until(
        lambda: any(s.in_flight == 0 and s.sent_at > ended.at for s in worker.heartbeats.seen)
    )
    assert worker.engine.running == 0


def _owner(api: LiveApi, request_id: str) -> str | None:
    relay = _service(api).streams.get(request_id)
    return None if relay is None else relay.worker_id


async def _event(nc: NatsClient, request_id: str, *kinds: type[object]) -> ChatEvent:
    """The first lifecycle event of ``request_id`` of one of ``kinds`` in CHAT_EVENTS."""
    js = nc.jetstream()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        sub = await js.subscribe(subjects.EVENT_SUBJECTS, ordered_consumer=True)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.3)
                except Exception:
                    break
                event: ChatEvent = codec.decode_event(msg.data)
                wanted = isinstance(event, kinds)  # (no narrowing: event stays a ChatEvent)
                if wanted and event.request_id == request_id:
                    return event
        finally:
            await sub.unsubscribe()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no {[k.__name__ for k in kinds]} event for {request_id}")
