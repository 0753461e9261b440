"""The built web app at ``/``: files, the SPA fallback, and the api's prefixes kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.web import RESERVED_PREFIXES
from tests.api.fake_gateway import FakeGateway

INDEX = "<!doctype html><title>app</title>"


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log(1)")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside")
    return root


@pytest.fixture
def web_client(settings: ApiSettings, web_dir: Path) -> Iterator[TestClient[Any]]:
    settings = replace(settings, web_dir=web_dir)
    service = ChatService(settings, FakeGateway(), StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        yield client


def test_root_is_index(web_client: TestClient[Any]) -> None:
    response = web_client.get("/")
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/chat", "/c/123", "/admin/models", "/settings/keys"])
def test_app_paths_fall_back_to_index(web_client: TestClient[Any], path: str) -> None:
    response = web_client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX


def test_hashed_assets_are_immutable(web_client: TestClient[Any]) -> None:
    response = web_client.get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log(1)"
    assert "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]
    other = web_client.get("/favicon.svg")
    assert other.status_code == 200
    assert other.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/missing-1.js", "/missing.png", "/../secret.txt"])
def test_missing_files_are_json_404(web_client: TestClient[Any], path: str) -> None:
    response = web_client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("prefix", RESERVED_PREFIXES)
def test_api_prefixes_are_never_the_app(web_client: TestClient[Any], prefix: str) -> None:
    response = web_client.get(f"/{prefix}/no-such-route")
    assert response.status_code == 404
    assert INDEX not in response.text
    if prefix != "schema":  # Litestar's OpenAPI router answers its own 404 there
        assert response.json()["error"]["code"] == "not_found"


def test_api_routes_still_answer(web_client: TestClient[Any]) -> None:
    assert web_client.get("/healthz").json() == {"status": "ok"}
    assert web_client.get("/metrics").status_code == 200
    assert web_client.get("/schema/openapi.json").status_code == 200
    unauthorized = web_client.get("/api/me")
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "unauthorized"


def test_without_a_build_there_is_no_app(client: TestClient[Any]) -> None:
    response = client.get("/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
