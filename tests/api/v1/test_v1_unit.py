"""OpenAI routes over a FakeGateway."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.v1.controllers import spec_from_completion
from chat_api.v1.schemas import CompletionBody, OpenAIMessage, TextPart
from tests.api.fake_gateway import FakeGateway, answer
from tests.api.test_errors import assert_error_body

BODY = {"model": "gemma3-270m", "messages": [{"role": "user", "content": "hi"}]}


def test_non_stream(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    response = client.post("/v1/chat/completions", json=BODY, headers=auth_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_non_stream_interrupted_is_502(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    """Chunks lost in transit that the capture stream no longer holds: no partial answer."""
    fake_gateway.script = answer("Hel", "lo", " there")
    fake_gateway.lost_seqs = fake_gateway.expired_seqs = {2}
    response = client.post("/v1/chat/completions", json=BODY, headers=auth_headers)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "stream_interrupted"
    assert [reason for _, reason in fake_gateway.cancels] == ["client_disconnected"]


def test_stream_frames_and_usage(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/chat/completions",
        headers=auth_headers,
        json={**BODY, "stream": True, "stream_options": {"include_usage": True}},
    )
    # SSE although the route also answers JSON (stream false): proxies and clients go by it
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-accel-buffering"] == "no"
    lines = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "n": 2},
        {**BODY, "messages": [{"role": "tool", "content": "x"}]},
        {"messages": BODY["messages"]},
        {**BODY, "temperature": 3},
    ],
)
def test_invalid_is_400(client: TestClient[Any], auth_headers: dict[str, str], body: Any) -> None:
    assert_error_body(
        client.post("/v1/chat/completions", json=body, headers=auth_headers), 400, "invalid_request"
    )


def test_unknown_model_404(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/chat/completions", json={**BODY, "model": "x"}, headers=auth_headers
    )
    assert_error_body(response, 404, "model_not_found")


def test_models(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    body = client.get("/v1/models", headers=auth_headers).json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gemma3-270m"]


def test_spec_maps_developer_parts_and_stop() -> None:
    spec = spec_from_completion(
        CompletionBody(
            model="m",
            messages=[
                OpenAIMessage(
                    role="developer",
                    content=[TextPart(type="text", text="a"), TextPart(type="text", text="b")],
                )
            ],
            stop="END",
            max_completion_tokens=5,
            max_tokens=9,
        )
    )
    assert spec.messages[0].role == "system"
    assert spec.messages[0].content == "ab"
    assert spec.sampling.stop == ("END",)
    assert spec.sampling.max_tokens == 5
