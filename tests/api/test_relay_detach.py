"""Detached generations (the client went away) and followers (a client re-attached):
unit tests of the relay and ``ChatService.attach`` over ``FakeGateway``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chat_api.auth import AuthUser
from chat_api.chat import ChatService
from chat_api.chat.service import ChatSpec, resume_backlog
from chat_api.errors import ApiError
from chat_api.relay import Relay, StreamFailure, StreamTable
from chat_api.settings import ApiSettings
from contracts import subjects
from contracts.inference import ChatMessage, Chunk, StreamError, StreamStarted, TokenChunk, Usage
from tests.api.conftest import SECRET
from tests.api.fake_gateway import FakeGateway, answer

OWNER = AuthUser(id="u1", role="user")
OTHER = AuthUser(id="u2", role="user")
ADMIN = AuthUser(id="a1", role="admin")
TEXTS = ("He", "llo", " wor", "ld")


def _service(gateway: FakeGateway) -> ChatService:
    settings = ApiSettings(jwt_secret=SECRET, request_timeout_s=5.0)
    return ChatService(settings, gateway, StreamTable())


def _spec() -> ChatSpec:
    return ChatSpec(messages=(ChatMessage(role="user", content="hi"),))


def _text(items: list[Any]) -> str:
    return "".join(i.text for i in items if isinstance(i, TokenChunk))


async def _started(service: ChatService, grace_s: float, request_id: str = "r1") -> Relay:
    gateway = service.gateway
    assert isinstance(gateway, FakeGateway)
    gateway.script_live = False
    gateway.script = answer(*TEXTS)
    return await service.start(OWNER, _spec(), request_id, detach_grace_s=grace_s)


async def _read(relay: Relay, count: int) -> list[Any]:
    """Read ``count`` items, then go away as a disconnected client does."""
    items: list[Any] = []
    stream = relay.events()
    async for item in stream:
        items.append(item)
        if len(items) == count:
            break
    await stream.aclose()
    return items


async def _until(condition: Any, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_client_gone_detaches_and_the_generation_goes_on() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=30.0)
    gateway.send_live("r1", 3)  # started, "He", "llo"
    seen = await _read(relay, 2)
    assert _text(seen) == "Hello"
    assert relay.detached
    assert gateway.cancels == []
    assert service.streams.get("r1") is relay  # still cancellable by the route
    gateway.send_live("r1")  # the rest, final chunk included
    await _until(lambda: relay.outcome == "stop")
    assert gateway.cancels == []
    assert relay.usage == Usage(prompt_tokens=3, completion_tokens=4)
    await _until(lambda: service.streams.get("r1") is None)
    assert gateway.ended == ["r1"]


async def test_nobody_back_within_the_grace_cancels() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=0.1)
    gateway.send_live("r1", 2)
    await _read(relay, 1)
    assert relay.detached
    await _until(lambda: gateway.cancels == [("r1", "client_disconnected")])
    assert service.streams.get("r1") is None


async def test_grace_zero_cancels_at_once() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=0.0)
    gateway.send_live("r1", 2)
    await _read(relay, 1)
    assert not relay.detached
    assert gateway.cancels == [("r1", "client_disconnected")]


async def test_a_watch_keeps_a_detached_generation_past_its_grace() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=0.1)
    gateway.send_live("r1", 2)
    await _read(relay, 1)
    service.watched("r1")
    await asyncio.sleep(0.3)
    assert gateway.cancels == []
    relay.watched_at -= 2 * subjects.RELAY_WATCH_INTERVAL_S + 2  # the watcher went quiet
    relay._grace_over()
    await _until(lambda: gateway.cancels == [("r1", "client_disconnected")])


async def test_the_cancel_route_cancels_a_detached_generation_at_once() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=30.0)
    gateway.send_live("r1", 2)
    await _read(relay, 1)
    assert await service.cancel(OWNER, "r1")
    await _until(lambda: gateway.cancels == [("r1", "client_cancelled")])
    assert relay.outcome == "cancelled"


async def test_attach_mid_answer_continues_without_gap_or_double() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=30.0)
    gateway.send_live("r1", 3)  # started, "He", "llo"
    first = await _read(relay, 1)  # the client saw "He" (seq 1) and reloaded
    assert _text(first) == "He"
    follower = await service.attach(OWNER, "r1", after_seq=1)
    assert gateway.watches == ["r1"]
    collect = asyncio.create_task(_collect(follower))
    await asyncio.sleep(0.05)
    gateway.send_live("r1")
    rest = await asyncio.wait_for(collect, 2)
    assert _text(first) + _text(rest) == "".join(TEXTS)
    assert rest[-1].finish_reason == "stop"
    assert gateway.cancels == []
    assert gateway.failed == []


async def test_attach_after_the_end_replays_from_the_capture() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=30.0)
    gateway.send_live("r1", 2)
    await _read(relay, 1)
    gateway.send_live("r1")
    await _until(lambda: relay.outcome == "stop")
    whole = await _collect(await service.attach(OWNER, "r1", after_seq=-1))
    assert _text(whole) == "".join(TEXTS)
    tail = await _collect(await service.attach(OWNER, "r1", after_seq=3))
    assert _text(tail) == "ld"
    end = await _collect(await service.attach(OWNER, "r1", after_seq=4))
    assert [(i.text, i.finish_reason) for i in end] == [("", "stop")]


async def test_attach_is_for_the_owner_or_an_admin() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    await _started(service, grace_s=30.0)
    gateway.send_live("r1")
    with pytest.raises(ApiError) as refused:
        await service.attach(OTHER, "r1", after_seq=-1)
    assert refused.value.status_code == 404
    with pytest.raises(ApiError) as unknown:
        await service.attach(OWNER, "nope", after_seq=-1)
    assert unknown.value.status_code == 404
    assert _text(await _collect(await service.attach(ADMIN, "r1", after_seq=-1))) == "Hello world"


async def test_attach_to_an_expired_capture_is_410() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    await _started(service, grace_s=30.0)
    gateway.send_live("r1")
    gateway.captured["r1"] = gateway.captured["r1"][3:]  # chunks 0..2 expired
    with pytest.raises(ApiError) as expired:
        await service.attach(OWNER, "r1", after_seq=0)
    assert (expired.value.status_code, expired.value.code) == (410, "stream_expired")
    assert _text(await _collect(await service.attach(OWNER, "r1", after_seq=2))) == " world"
    gateway.captured["r1"] = []
    chat = gateway.open_chats["r1"]
    gateway.open_chats["r1"] = type(chat)(**{**_fields(chat), "deadline": time.time() - 1})
    with pytest.raises(ApiError) as gone:
        await service.attach(OWNER, "r1", after_seq=2)
    assert gone.value.status_code == 410


async def test_a_follower_never_cancels_or_reports() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    relay = await _started(service, grace_s=30.0)
    gateway.send_live("r1", 2)
    follower = await service.attach(OWNER, "r1", after_seq=-1)
    assert _text(await _read(follower, 1)) == "He"
    assert gateway.cancels == []
    assert service.streams.get("r1") is relay
    follower.feed.push(StreamError(seq=9, code="engine_error", message="x"))
    assert gateway.failed == []


def test_resume_backlog_cases() -> None:
    started = StreamStarted(seq=0, worker_id="w", model="m", prompt_tokens=1)
    tokens = [TokenChunk(seq=i, text=str(i)) for i in (1, 2)]
    final = TokenChunk(seq=3, text="3", finish_reason="stop")
    captured: list[Chunk] = [started, *tokens, final]
    assert resume_backlog(captured, -1) == captured
    assert resume_backlog(captured, 1) == [tokens[1], final]
    assert resume_backlog(captured, 3) == [TokenChunk(seq=4, text="", finish_reason="stop")]
    assert resume_backlog(captured[2:], 0) is None
    assert resume_backlog([], 5) == []
    error = StreamError(seq=3, code="timeout", message="late")
    with_error: list[Chunk] = [started, *tokens, error]
    assert resume_backlog(with_error, 3) == [StreamError(seq=4, code="timeout", message="late")]


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


async def _collect(relay: Relay) -> list[Any]:
    return [item async for item in relay.events()]


async def test_a_failure_in_a_follower_is_relayed() -> None:
    gateway = FakeGateway()
    service = _service(gateway)
    await _started(service, grace_s=30.0)
    follower = await service.attach(OWNER, "r1", after_seq=-1)
    follower.cancel()
    items = await _collect(follower)
    assert isinstance(items[-1], StreamFailure)


class SlowReplayGateway(FakeGateway):
    """Replays take a while: a client can leave in the middle of one."""

    async def replay(self, request_id: str, after_seq: int, before_seq: int | None = None) -> Any:
        await asyncio.sleep(0.3)
        return await super().replay(request_id, after_seq, before_seq)


async def test_a_client_gone_during_a_gap_replay_loses_nothing() -> None:
    gateway = SlowReplayGateway()
    gateway.lost_seqs = {3}  # "wor" lost on the wire: the final chunk reveals the gap
    service = _service(gateway)
    gateway.script = answer(*TEXTS)
    relay = await service.start(OWNER, _spec(), "r1", detach_grace_s=30.0)
    seen: list[Any] = []

    async def read() -> None:
        async for item in relay.events():
            seen.append(item)

    reader = asyncio.create_task(read())
    await _until(lambda: len(seen) == 2)  # "He", "llo"; then the gap replay starts
    await asyncio.sleep(0.1)
    reader.cancel()  # the client goes while the replay runs
    await asyncio.gather(reader, return_exceptions=True)
    assert relay.detached
    await _until(lambda: relay.outcome is not None)
    assert relay.outcome == "stop"  # the final chunk, taken off the queue, was not lost
    assert gateway.cancels == []
