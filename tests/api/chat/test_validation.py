"""Malformed /api/chat bodies get a 4xx with the standard body, never a 5xx."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from contracts.workers import WorkerStatus
from tests.api.fake_gateway import FakeGateway, ready_status
from tests.api.test_errors import assert_error_body

USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": "hi"},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [USER], "temperature": -0.1},
        {"messages": [USER], "temperature": 2.5},
        {"messages": [USER], "temperature": "hot"},
        {"messages": [USER], "top_p": 0},
        {"messages": [USER], "top_p": 1.5},
        {"messages": [USER], "max_tokens": 0},
        {"messages": [USER], "max_tokens": 513},
        {"messages": [USER], "stop": ["a", "b", "c", "d", "e"]},
        {"messages": [USER], "stop": [""]},
        {"messages": [USER], "stop": ["x" * 257]},  # longer than a stop string may be
        # stop strings count toward MAX_INPUT_CHARS (1000 here), beside the messages
        {"messages": [{"role": "user", "content": "x" * 900}], "stop": ["y" * 200]},
        {"messages": [USER], "timeout_s": 0},
        {"messages": [USER], "timeout_s": 31},
        {"messages": [USER], "unknown_field": 1},
        {"messages": [{"role": "user", "content": "x" * 1001}]},
        {"messages": [USER] * 9},
        {"messages": [USER], "system_prompt": "s" * 999},
        [1, 2, 3],
        "just a string",
    ],
)
def test_invalid_body_is_400(
    client: TestClient[Any], auth_headers: dict[str, str], body: Any, fake_gateway: FakeGateway
) -> None:
    response = client.post("/api/chat", json=body, headers=auth_headers)
    assert_error_body(response, 400, "invalid_request")
    assert fake_gateway.requests == []


def test_validation_message_names_the_field(
    client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/chat", json={"messages": [USER], "temperature": 9}, headers=auth_headers
    )
    assert "temperature" in response.json()["error"]["message"]


def test_unknown_model_is_404(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/chat", json={"messages": [USER], "model": "gpt-9"}, headers=auth_headers
    )
    error = assert_error_body(response, 404, "model_not_found")
    assert error["param"] == "model"


def test_no_live_worker_is_503_with_retry_after(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    fake_gateway.workers.observe(_stopped())
    response = client.post("/api/chat", json={"messages": [USER]}, headers=auth_headers)
    assert_error_body(response, 503, "model_unavailable")
    assert response.headers["retry-after"].isdigit()
    assert fake_gateway.requests == []


def _stopped() -> WorkerStatus:
    return msgspec.structs.replace(ready_status("w-gemma3-270m"), state="stopped")
