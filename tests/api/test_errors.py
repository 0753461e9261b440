"""Every error has the one standard body and an X-Request-ID; malformed input is never 5xx."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.bus import GatewayUnavailable
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from tests.api.fake_gateway import FakeGateway


def assert_error_body(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert "type" in error
    assert "param" in error
    return dict(error)


def test_unknown_route_is_404_standard_body(
    client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    assert_error_body(client.get("/api/nope", headers=auth_headers), 404, "not_found")


def test_unknown_route_without_token_is_not_5xx(client: TestClient[Any]) -> None:
    response = client.get("/nope")
    assert response.status_code in (401, 404)
    assert "error" in response.json()


def test_wrong_method_is_405_standard_body(
    client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    assert_error_body(client.get("/api/chat", headers=auth_headers), 405, "invalid_request")


def test_bad_json_is_400(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/chat",
        content=b"{not json",
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    assert_error_body(response, 400, "invalid_request")


def test_empty_body_is_400(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/chat", content=b"", headers={**auth_headers, "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_every_response_has_request_id(client: TestClient[Any]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 32


def test_unexpected_exception_is_500_internal_error(
    settings: ApiSettings, auth_headers: dict[str, str]
) -> None:
    service = ChatService(settings, FakeGateway(fail_with=RuntimeError("boom")), StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        response = client.post(
            "/api/chat",
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers=auth_headers,
        )
    error = assert_error_body(response, 500, "internal_error")
    assert "boom" not in error["message"]


def test_bus_unavailable_is_503(settings: ApiSettings, auth_headers: dict[str, str]) -> None:
    gateway = FakeGateway(fail_with=GatewayUnavailable("nats down"))
    service = ChatService(settings, gateway, StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        response = client.post(
            "/api/chat",
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers=auth_headers,
        )
    assert_error_body(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "5"
