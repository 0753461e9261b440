"""Sign-in and registration attempts are counted per client address and per account;
past the budget: 429 ``rate_limited`` with Retry-After, before persistence is asked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import PASSWORD, FakePersistence
from tests.api.test_errors import assert_error_body


def client_with(settings: ApiSettings, persistence: FakePersistence) -> TestClient[Any]:
    service = ChatService(settings, FakeGateway(), StreamTable())
    app = create_app(settings, chat_service=service, persistence=persistence)
    return TestClient(app=app, raise_server_exceptions=False)


def login(client: TestClient[Any], email: str, password: str = PASSWORD) -> Any:
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_an_account_gets_ten_tries_a_minute_then_429(
    app_settings: ApiSettings, fake_persistence: FakePersistence
) -> None:
    settings = replace(app_settings, auth_attempts_per_account=10, auth_attempts_per_address=0)
    with client_with(settings, fake_persistence) as client:
        for _ in range(10):
            assert login(client, "alice@example.com", "a wrong guess").status_code == 401
        asked = fake_persistence.count("authenticate")
        refused = login(client, "Alice@Example.com")  # the right password, too late
        error = assert_error_body(refused, 429, "rate_limited")
        assert "account" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert fake_persistence.count("authenticate") == asked  # not even asked
        assert login(client, "bob@example.com").status_code == 200  # another account


def test_an_address_gets_its_budget_for_logins_and_apart_for_registrations(
    app_settings: ApiSettings, fake_persistence: FakePersistence
) -> None:
    settings = replace(app_settings, auth_attempts_per_account=0, auth_attempts_per_address=3)
    with client_with(settings, fake_persistence) as client:
        for email in ("alice@example.com", "bob@example.com", "nobody@example.com"):
            assert login(client, email).status_code in (200, 401)
        error = assert_error_body(login(client, "root@example.com"), 429, "rate_limited")
        assert "address" in error["message"]
        for index in range(3):
            body = {"email": f"new{index}@example.com", "password": "long enough password"}
            assert client.post("/api/auth/register", json=body).status_code == 201
        body = {"email": "new9@example.com", "password": "long enough password"}
        assert_error_body(client.post("/api/auth/register", json=body), 429, "rate_limited")
