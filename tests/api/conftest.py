"""Fixtures of the api tests: settings, tokens, a unit app over ``FakeGateway``, and a
real api (uvicorn in this event loop) over the session's nats-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.auth import issue_token
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from stack.ports import free_port
from tests.api.fake_gateway import FakeGateway

SECRET = "test-secret-0123456789-0123456789-abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        jwt_secret=SECRET,
        data_dir=tmp_path,
        max_input_chars=1000,
        max_messages=8,
        max_tokens_limit=512,
        request_timeout_s=30.0,
    )


TokenFactory = Callable[..., str]


@pytest.fixture
def make_token(settings: ApiSettings) -> TokenFactory:
    def make(user_id: str = "u1", role: str = "user", ttl_s: float = 600.0) -> str:
        return issue_token(settings.jwt_secret, user_id, role=role, ttl_s=ttl_s)  # type: ignore[arg-type]

    return make


@pytest.fixture
def auth_headers(make_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token()}"}


@pytest.fixture
def fake_gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def client(settings: ApiSettings, fake_gateway: FakeGateway) -> Iterator[TestClient[Any]]:
    service = ChatService(settings, fake_gateway, StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as test_client:
        yield test_client


@dataclass
class LiveApi:
    base_url: str
    settings: ApiSettings
    token: str
    app: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def start_api(settings: ApiSettings) -> tuple[uvicorn.Server, asyncio.Task[None], Any]:
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.025)
    else:
        raise TimeoutError("api did not start")
    return server, task, app


@pytest.fixture
async def live_api(nats_url: str, tmp_path: Path) -> AsyncIterator[LiveApi]:
    """The real api on a free port; its default model is unique to the test."""
    model = f"m-{uuid.uuid4().hex[:8]}"
    settings = ApiSettings(
        jwt_secret=SECRET,
        data_dir=tmp_path,
        nats_url=nats_url,
        port=free_port(),
        default_model=model,
        models=(model, "other-model"),
        request_timeout_s=20.0,
        worker_stale_after_s=1.0,
        worker_sweep_interval_s=0.1,
        shutdown_grace_s=2.0,
    )
    server, task, app = await start_api(settings)
    token = issue_token(SECRET, "alice", role="user")
    try:
        yield LiveApi(f"http://127.0.0.1:{settings.port}", settings, token, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def with_settings(settings: ApiSettings, **changes: Any) -> ApiSettings:
    return replace(settings, **changes)
