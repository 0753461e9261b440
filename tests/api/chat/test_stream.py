"""/api/chat over a FakeGateway: SSE framing, terminal events, cancel route."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from contracts.inference import ChatRequest, Chunk, StreamError, StreamStarted, TokenChunk
from tests.api.fake_gateway import FakeGateway, answer
from tests.api.sse_frames import parse_sse

BODY = {
    "messages": [{"role": "user", "content": "hi there"}],
    "temperature": 0.5,
    "max_tokens": 16,
    "stop": ["\n"],
    "system_prompt": "be brief",
    "timeout_s": 10,
}


def test_stream_frames(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    fake_gateway.script = answer("Hel", "lo", "\nworld")
    response = client.post("/api/chat", json=BODY, headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    events = parse_sse(response.text)
    assert [e.event for e in events] == ["start", "token", "token", "token", "done"]
    request_id = response.headers["x-request-id"]
    assert events[0].json() == {"request_id": request_id, "model": "gemma3-270m"}
    assert [e.id for e in events[1:4]] == ["1", "2", "3"]
    assert "".join(e.json()["text"] for e in events[1:4]) == "Hello\nworld"
    assert events[4].json() == {
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }
    sent = fake_gateway.requests[0]
    assert sent.request_id == request_id
    assert sent.user_id == "u1"
    assert [m.role for m in sent.messages] == ["system", "user"]
    assert sent.sampling.temperature == 0.5
    assert sent.sampling.stop == ("\n",)
    assert 9 < sent.deadline - sent.created_at <= 10
    assert fake_gateway.cancels == []


def _script(*chunks: Chunk) -> Any:
    def script(request: ChatRequest) -> list[Chunk]:
        return [StreamStarted(seq=0, worker_id="w1", model=request.model, prompt_tokens=1), *chunks]

    return script


def test_stream_error_becomes_error_event(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    fake_gateway.script = _script(
        TokenChunk(seq=1, text="a"), StreamError(seq=2, code="engine_error", message="oom")
    )
    events = parse_sse(client.post("/api/chat", json=BODY, headers=auth_headers).text)
    assert [e.event for e in events] == ["start", "token", "error"]
    assert events[-1].json() == {"code": "engine_error", "message": "oom"}


def test_worker_timeout_finish_becomes_timeout_error(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    fake_gateway.script = _script(TokenChunk(seq=1, text="a", finish_reason="timeout"))
    events = parse_sse(client.post("/api/chat", json=BODY, headers=auth_headers).text)
    assert [e.event for e in events] == ["start", "token", "error"]
    assert events[-1].json()["code"] == "timeout"


def test_duplicate_chunks_are_dropped(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    fake_gateway.script = _script(
        TokenChunk(seq=1, text="a"),
        TokenChunk(seq=1, text="a"),
        TokenChunk(seq=2, text="b", finish_reason="length"),
    )
    events = parse_sse(client.post("/api/chat", json=BODY, headers=auth_headers).text)
    assert [e.event for e in events] == ["start", "token", "token", "done"]
    assert events[-1].json()["finish_reason"] == "length"


def test_cancel_unknown_request_is_404(
    client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    response = client.post("/api/chat/nope/cancel", headers=auth_headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
