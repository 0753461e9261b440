"""Bearer JWT auth on /api and /v1; probes are open."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from litestar.testing import TestClient

from chat_api.auth import AuthUser, InvalidToken, issue_token, verify_token
from chat_api.settings import ApiSettings
from tests.api.test_errors import assert_error_body

BODY = {"messages": [{"role": "user", "content": "hi"}]}


def _unauthorized(response: Any) -> None:
    assert_error_body(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_missing_token_is_401(client: TestClient[Any], path: str) -> None:
    _unauthorized(client.post(path, json=BODY))


def test_models_needs_token(client: TestClient[Any]) -> None:
    _unauthorized(client.get("/v1/models"))


def test_bad_signature_is_401(client: TestClient[Any]) -> None:
    token = issue_token("another-secret-another-secret-another", "u1")
    _unauthorized(client.post("/api/chat", json=BODY, headers={"Authorization": f"Bearer {token}"}))


def test_expired_token_is_401(client: TestClient[Any], settings: ApiSettings) -> None:
    token = issue_token(settings.jwt_secret, "u1", now=time.time() - 7200, ttl_s=60)
    response = client.post("/api/chat", json=BODY, headers={"Authorization": f"Bearer {token}"})
    _unauthorized(response)
    assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize("header", ["Basic dTpw", "Token abc", "Bearer", "bearer  "])
def test_wrong_scheme_is_401(client: TestClient[Any], header: str) -> None:
    _unauthorized(client.post("/api/chat", json=BODY, headers={"Authorization": header}))


def test_bad_role_is_401(client: TestClient[Any], settings: ApiSettings) -> None:
    token = jwt.encode(
        {"sub": "u1", "role": "root", "exp": int(time.time()) + 60},
        settings.jwt_secret,
        algorithm="HS256",
    )
    _unauthorized(client.post("/api/chat", json=BODY, headers={"Authorization": f"Bearer {token}"}))


def test_token_without_exp_is_rejected(settings: ApiSettings) -> None:
    token = jwt.encode({"sub": "u1"}, settings.jwt_secret, algorithm="HS256")
    with pytest.raises(InvalidToken):
        verify_token(token, settings.jwt_secret)


def test_issuer_is_enforced_when_set() -> None:
    secret = "s" * 40
    token = issue_token(secret, "u1", issuer="other")
    with pytest.raises(InvalidToken):
        verify_token(token, secret, issuer="llmchat")
    assert verify_token(issue_token(secret, "u1", issuer="llmchat"), secret, "llmchat").id == "u1"


def test_valid_token_reaches_handler(client: TestClient[Any], auth_headers: dict[str, str]) -> None:
    assert client.get("/v1/models", headers=auth_headers).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_token(client: TestClient[Any], path: str) -> None:
    assert client.get(path).status_code in (200, 503)


def test_dev_token_prints_valid_admin_token_last(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    env.pop("JWT_SECRET", None)
    out = subprocess.run(
        [sys.executable, "-m", "chat_api.auth.dev_token"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    token = out.strip().splitlines()[-1]
    settings = ApiSettings.from_env({"DATA_DIR": str(tmp_path)})
    assert verify_token(token, settings.jwt_secret) == AuthUser(id="dev-admin", role="admin")
