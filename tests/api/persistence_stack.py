"""The api with a real persistence service, for the account and conversation tests: its
own nats-server, the persistence service in-process (``persistence.app.run``) on SQLite
in a temp dir, and the real api (uvicorn in this event loop). One stack per test module
(fixtures ``stack`` / ``stack_nats``, made visible by tests/api/conftest.py); tests make
their own users."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from chat_api.app import create_app
from chat_api.auth.dev_token import dev_token
from chat_api.settings import ApiSettings
from local_stack.ports import free_port
from persistence.app import run as run_persistence
from persistence.settings import PersistenceSettings
from tests.conftest import NatsServers

SECRET = "integration-secret-0123456789-0123456789"
PASSWORD = "a long enough password"


@dataclass
class Stack:
    base_url: str
    nats_url: str
    settings: ApiSettings
    http: httpx.AsyncClient

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {dev_token(self.settings)}"}

    async def user(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Register and log in a fresh user: (user, auth headers)."""
        email = f"u-{uuid.uuid4().hex[:10]}@example.com"
        registered = await self.http.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        login = await self.http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return registered.json(), {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture(scope="module")
def stack_nats(nats_servers: NatsServers) -> Iterator[str]:
    # private: a persistence service with a durable consumer of its own, which stores the
    # conversations these tests read (events of other tests must not reach it)
    with nats_servers.private("nats-stack") as server:
        yield server.url


async def start_api(settings: ApiSettings) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            return server, task
        if task.done():
            task.result()
        await asyncio.sleep(0.025)
    raise TimeoutError("api did not start")


def api_settings(nats_url: str, data_dir: Path, **changes: Any) -> ApiSettings:
    model = f"m-{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "data_dir": data_dir,
        "nats_url": nats_url,
        "port": free_port(),
        "default_model": model,
        "models": (model,),
        "request_timeout_s": 20.0,
        "worker_stale_after_s": 1.0,
        "worker_sweep_interval_s": 0.1,
        "shutdown_grace_s": 2.0,
        "nats_connect_timeout_s": 5.0,
        # Every test signs its users in from 127.0.0.1; the throttle has tests of its own.
        "auth_attempts_per_address": 0,
    }
    return ApiSettings(**(values | changes))


@pytest.fixture(scope="module")
async def stack(stack_nats: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    stop = asyncio.Event()
    persistence = asyncio.create_task(
        run_persistence(
            PersistenceSettings(
                dev_admin=True,  # as `make run` has it: the test signs in as dev-admin
                nats_url=stack_nats,
                data_dir=data_dir,
                events_poll_s=0.2,
                nats_connect_timeout_s=10.0,
                drain_timeout_s=3.0,
            ),
            stop,
        )
    )
    settings = api_settings(stack_nats, data_dir)
    server, api = await start_api(settings)
    base_url = f"http://127.0.0.1:{settings.port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=20.0) as http:
        stack = Stack(base_url, stack_nats, settings, http)
        deadline = time.monotonic() + 30
        while (await http.get("/api/me", headers=stack.admin_headers)).status_code != 200:
            assert not persistence.done(), "persistence exited"
            assert time.monotonic() < deadline, "persistence never answered"
            await asyncio.sleep(0.1)
        try:
            yield stack
        finally:
            server.should_exit = True
            await asyncio.wait_for(api, 15)
            stop.set()
            assert await asyncio.wait_for(persistence, 30) == 0
