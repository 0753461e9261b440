"""Bodies and headers past their bounds get 413 / 431 with the standard JSON error body,
before any other work."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.api.fake_gateway import FakeGateway
from tests.api.test_errors import assert_error_body

MAX_BODY = 1_048_576
MAX_HEADERS = 16_384


def test_a_body_over_the_limit_is_413(
    client: TestClient[Any], auth_headers: dict[str, str], fake_gateway: FakeGateway
) -> None:
    body = b'{"messages": [{"role": "user", "content": "' + b"x" * MAX_BODY + b'"}]}'
    for path in ("/api/chat", "/v1/chat/completions", "/api/auth/login"):
        response = client.post(
            path, content=body, headers={**auth_headers, "Content-Type": "application/json"}
        )
        error = assert_error_body(response, 413, "request_too_large")
        assert error["message"]
    assert fake_gateway.requests == []


def test_headers_over_the_limit_are_431_whatever_the_route(
    client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    big = {**auth_headers, "X-Padding": "p" * MAX_HEADERS}
    for method, path in (("GET", "/api/me"), ("POST", "/api/chat"), ("GET", "/healthz")):
        response = client.request(method, path, headers=big)
        error = assert_error_body(response, 431, "request_too_large")
        assert "headers" in error["message"]
    fits = {**auth_headers, "X-Padding": "p" * (MAX_HEADERS // 2)}
    assert client.get("/healthz", headers=fits).status_code == 200
