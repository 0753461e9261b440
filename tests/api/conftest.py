"""Fixtures of the api tests: settings, tokens, a unit app over ``FakeGateway``, and a
real api (uvicorn in this event loop) with the real persistence service (in-process, SQLite)
over the session's nats-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.auth import issue_token
from chat_api.auth.dev_token import DEV_USER_ID, dev_token
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from local_stack.ports import free_port
from persistence.app import run as run_persistence
from persistence.settings import PersistenceSettings
from tests.api.fake_gateway import FakeGateway
from tests.api.persistence_stack import stack, stack_nats

__all__ = ["stack", "stack_nats"]  # fixtures of the tests that need their own persistence

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


LIVE_USER_ID = DEV_USER_ID


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
def live_api_overrides() -> dict[str, Any]:
    """Settings a test module changes on ``live_api`` (override this fixture there)."""
    return {}


@pytest.fixture
async def live_api(
    nats_url: str, tmp_path: Path, live_api_overrides: dict[str, Any]
) -> AsyncIterator[LiveApi]:
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
    settings = replace(settings, **live_api_overrides)
    stop_persistence = asyncio.Event()
    persistence = asyncio.create_task(
        run_persistence(
            PersistenceSettings(
                dev_admin=True,  # as `make run` has it: tests sign in as dev-admin
                nats_url=nats_url,
                data_dir=tmp_path,
                events_poll_s=0.2,
                nats_connect_timeout_s=10.0,
                drain_timeout_s=3.0,
            ),
            stop_persistence,
        )
    )
    server, task, app = await start_api(settings)
    # The development admin: persistence creates it, the api checks every token against it.
    token = dev_token(settings)
    base_url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
            for _ in range(300):
                me = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
                if me.status_code == 200:
                    break
                assert not persistence.done(), "persistence exited"
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("persistence never answered")
        yield LiveApi(base_url, settings, token, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        stop_persistence.set()
        await asyncio.wait_for(persistence, 30)


def with_settings(settings: ApiSettings, **changes: Any) -> ApiSettings:
    return replace(settings, **changes)
