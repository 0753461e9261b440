"""Usage through the real stack: its own nats-server, persistence and metering in-process
(SQLite in a temp dir), the real api (uvicorn in this event loop), and for the chats a
scripted worker. Usage totals equal what the clients received; users see their own
usage only; a 20,000-row CSV streams page by page."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import sqlalchemy as sa
import uvicorn
from litestar import Litestar

from chat_api.app import create_app
from chat_api.auth.dev_token import DEV_USER_ID, dev_token
from chat_api.settings import ApiSettings
from chat_api.usage import USAGE_KEY, UsageService
from contracts import subjects
from contracts.accounts import GetUser
from contracts.codec import encode
from contracts.usage import ListUsageRecords, UsageQuery, UsageRecordPage, UsageSummary
from llmchat_sql.database import Database
from metering.app import run as run_metering
from metering.recorder import TABLE, utc_day
from persistence.app import run as run_persistence
from persistence.settings import PersistenceSettings
from tests.api.persistence_stack import PASSWORD, api_settings
from tests.api.sse_frames import parse_sse
from tests.conftest import NatsServers
from tests.inference_worker.harness import running_worker, worker_env
from tests.metering import events_factory as ev
from tests.metering.harness import publish, settings_for

pytestmark = pytest.mark.nats

PAGE = 1000
CSV_ROWS = 20_000
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
JANUARY = {"from": "2025-01-01", "to": "2025-01-31"}


@dataclass
class UsageStack:
    nats_url: str
    settings: ApiSettings
    app: Litestar
    http: httpx.AsyncClient
    metering_db_url: str
    stop_metering: asyncio.Event
    metering: asyncio.Task[int]

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {dev_token(self.settings)}"}

    async def user(self) -> tuple[str, dict[str, str]]:
        """A fresh registered user: (id, auth headers)."""
        email = f"u-{uuid.uuid4().hex[:10]}@example.com"
        registered = await self.http.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        login = await self.http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return registered.json()["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture(scope="module")
def usage_nats(nats_servers: NatsServers) -> Iterator[str]:
    # private: metering and persistence with durable consumers of their own, whose counts
    # the tests read (events of other tests must not reach them)
    with nats_servers.private("nats-usage") as server:
        yield server.url


async def _until(check: Any, what: str, wait_s: float = 30.0) -> Any:
    """Poll the coroutine function ``check`` until it returns something truthy."""
    deadline = time.monotonic() + wait_s
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.1)


async def persistence_ready(nats_url: str, task: asyncio.Task[int]) -> None:
    nc = await nats.connect(nats_url)
    try:

        async def answers() -> bool:
            assert not task.done(), "persistence exited"
            try:
                await nc.request(
                    subjects.ACCOUNT_GET, encode(GetUser(user_id=DEV_USER_ID)), timeout=0.5
                )
            except Exception:
                return False
            return True

        await _until(answers, "persistence answering")
    finally:
        await nc.drain()


@pytest.fixture(scope="module")
async def usage_stack(
    usage_nats: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[UsageStack]:
    data_dir: Path = tmp_path_factory.mktemp("usage-stack")
    stop_persistence, stop_metering = asyncio.Event(), asyncio.Event()
    persistence = asyncio.create_task(
        run_persistence(
            PersistenceSettings(
                dev_admin=True,  # as `make run` has it: the test signs in as dev-admin
                nats_url=usage_nats,
                data_dir=data_dir,
                events_poll_s=0.2,
                nats_connect_timeout_s=10.0,
                drain_timeout_s=3.0,
            ),
            stop_persistence,
        )
    )
    settings = api_settings(usage_nats, data_dir, usage_page_size=PAGE, metering_timeout_s=5.0)
    await persistence_ready(usage_nats, persistence)
    # Only now: Alembic's context is process-wide, two services must not migrate at once.
    metering_db_url = f"sqlite+aiosqlite:///{data_dir / 'metering.db'}"
    metering = asyncio.create_task(
        run_metering(settings_for(usage_nats, metering_db_url), stop_metering)
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    api = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.port}", timeout=20.0
    ) as http:
        stack = UsageStack(
            usage_nats, settings, app, http, metering_db_url, stop_metering, metering
        )

        async def answering() -> bool:
            assert not persistence.done(), "persistence exited"
            assert not metering.done(), "metering exited"
            assert not api.done(), "the api exited"
            try:
                response = await http.get("/api/usage", headers=stack.admin)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        await _until(answering, "the stack answering usage queries")
        try:
            yield stack
        finally:
            server.should_exit = True
            await asyncio.wait_for(api, 15)
            stop_metering.set()
            stop_persistence.set()
            assert await asyncio.wait_for(metering, 30) == 0
            assert await asyncio.wait_for(persistence, 30) == 0


async def _totals(stack: UsageStack, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await stack.http.get("/api/usage", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_chats_are_metered_exactly_what_the_client_received(usage_stack: UsageStack) -> None:
    stack = usage_stack
    user_id, headers = await stack.user()
    created = await stack.http.post("/api/keys", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201, created.text
    key_id = created.json()["key"]["id"]
    key_headers = {"Authorization": f"Bearer {created.json()['secret']}"}
    received_in = received_out = 0
    nc = await nats.connect(stack.nats_url)
    try:
        async with running_worker(nc, worker_env(stack.nats_url, stack.settings.default_model)):
            for i, auth in enumerate([headers, headers, headers, key_headers, key_headers]):
                body = {
                    "max_tokens": 3 + i,
                    "messages": [{"role": "user", "content": f"Count to {i}"}],
                }
                async with stack.http.stream(
                    "POST", "/api/chat", json=body, headers=auth
                ) as response:
                    assert response.status_code == 200
                    events = parse_sse((await response.aread()).decode())
                (done,) = [e.json() for e in events if e.event == "done"]
                received_in += done["usage"]["prompt_tokens"]
                received_out += done["usage"]["completion_tokens"]
    finally:
        await nc.drain()

    async def all_finished() -> dict[str, Any] | None:
        body = await _totals(stack, headers)
        totals = body["totals"]
        return body if totals["completed"] == 5 and totals["in_progress"] == 0 else None

    body = await _until(all_finished, "five finished requests in the usage")
    totals = body["totals"]
    assert (totals["requests"], totals["input_tokens"], totals["output_tokens"]) == (
        5,
        received_in,
        received_out,
    )
    assert totals["avg_ttft_ms"] is not None
    assert [m["model"] for m in body["by_model"]] == [stack.settings.default_model]
    response = await stack.http.get("/api/usage/records.csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert {r["user_id"] for r in rows} == {user_id}
    assert sorted(r["api_key_id"] for r in rows) == ["", "", "", key_id, key_id]


async def test_users_see_their_own_usage_and_admins_everyones(usage_stack: UsageStack) -> None:
    stack = usage_stack
    alice, alice_headers = await stack.user()
    bob, bob_headers = await stack.user()
    model = f"m-{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        for i in range(3):
            await publish(js, ev.accepted(f"{alice}-{i}", alice, model=model, at=T0 + i))
            await publish(js, ev.completed(f"{alice}-{i}", alice, model=model, at=T0 + i + 1))
        await publish(js, ev.accepted(f"{bob}-0", bob, model=model, at=T0 + 86_400 * 2))
        await publish(
            js, ev.completed(f"{bob}-0", bob, model=model, at=T0 + 86_400 * 2 + 1, prompt=50)
        )
    finally:
        await nc.drain()

    async def bob_counted() -> bool:
        body = await _totals(stack, bob_headers, **JANUARY)
        return bool(body["totals"]["completed"] == 1)

    await _until(bob_counted, "bob's request in the usage")
    mine = await _totals(stack, alice_headers, **JANUARY)
    assert (mine["user_id"], mine["totals"]["requests"], mine["totals"]["input_tokens"]) == (
        alice,
        3,
        21,
    )
    assert [d["day"] for d in mine["by_day"]] == ["2025-01-01"]
    # A user_id parameter on the own-usage route changes nothing.
    snooping = await _totals(stack, alice_headers, user_id=bob, **JANUARY)
    assert snooping["user_id"] == alice

    everyone = await _totals(stack, stack.admin, **JANUARY)  # own route: the admin's own
    assert everyone["user_id"] != alice
    admin_view = await stack.http.get(
        "/api/admin/usage", headers=stack.admin, params={"model": model, **JANUARY}
    )
    assert admin_view.status_code == 200, admin_view.text
    by_user = {u["user_id"]: u["requests"] for u in admin_view.json()["by_user"]}
    assert by_user == {alice: 3, bob: 1}
    only_bob = await stack.http.get(
        "/api/admin/usage", headers=stack.admin, params={"user_id": bob, **JANUARY}
    )
    assert only_bob.json()["totals"]["input_tokens"] == 50
    assert [d["day"] for d in only_bob.json()["by_day"]] == ["2025-01-03"]

    forbidden = await stack.http.get("/api/admin/usage", headers=alice_headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    assert (await stack.http.get("/api/usage")).status_code == 401
    bad = await stack.http.get("/api/usage", headers=alice_headers, params={"from": "soon"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"


async def _seed_csv_user(stack: UsageStack) -> tuple[str, dict[str, str]]:
    """A user with CSV_ROWS finished requests in January, inserted straight into metering's
    table (one bulk insert: what the recorder writes is tested in tests/metering)."""
    user_id, headers = await stack.user()
    rows = [
        {
            "request_id": f"{user_id}-{i:05d}",
            "user_id": user_id,
            "model": "m",
            "status": "completed",
            "input_tokens": 7,
            "output_tokens": i % 100,
            "ttft_ms": 10.0,
            "latency_ms": 1000.0,
            "started_at": T0 + i * 60.0,  # 20,000 minutes: about 14 days
            "day": utc_day(T0 + i * 60.0),
            "accepted_at": T0 + i * 60.0,
            "finished_at": T0 + i * 60.0 + 1,
        }
        for i in range(CSV_ROWS)
    ]
    db = Database(stack.metering_db_url)
    try:
        async with db.write() as session:
            await session.execute(sa.insert(TABLE), rows)
    finally:
        await db.dispose()
    return user_id, headers


@pytest.fixture(scope="module")
async def csv_user(usage_stack: UsageStack) -> tuple[str, dict[str, str]]:
    return await _seed_csv_user(usage_stack)


async def test_csv_of_20000_rows_is_streamed(
    usage_stack: UsageStack, csv_user: tuple[str, dict[str, str]]
) -> None:
    user_id, headers = csv_user
    chunks = 0
    biggest = 0
    data = bytearray()
    async with usage_stack.http.stream(
        "GET", "/api/usage/records.csv", headers=headers, params=JANUARY
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        async for chunk in response.aiter_raw():
            chunks += 1
            biggest = max(biggest, len(chunk))
            data.extend(chunk)
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert len(rows) == CSV_ROWS
    assert [r["request_id"] for r in rows] == [f"{user_id}-{i:05d}" for i in range(CSV_ROWS)]
    assert rows[0]["time"] == "2025-01-01T00:00:00.000Z"
    assert rows[-1]["output_tokens"] == str((CSV_ROWS - 1) % 100)
    assert sum(int(r["output_tokens"]) for r in rows) == sum(i % 100 for i in range(CSV_ROWS))
    assert chunks > 1
    assert biggest < len(data) // 4  # never the whole file in one piece


class GatedMetering:
    """Passes every call through, but holds the request for page ``gate_at`` until the
    test opens the gate."""

    def __init__(self, inner: Any, gate_at: int) -> None:
        self.inner = inner
        self.gate_at = gate_at
        self.record_calls = 0
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def summary(self, query: UsageQuery) -> UsageSummary:
        result: UsageSummary = await self.inner.summary(query)
        return result

    async def records(self, request: ListUsageRecords) -> UsageRecordPage:
        self.record_calls += 1
        if self.record_calls == self.gate_at:
            self.waiting.set()
            await self.gate.wait()
        page: UsageRecordPage = await self.inner.records(request)
        return page


async def test_csv_rows_arrive_before_later_pages_are_fetched(
    usage_stack: UsageStack, csv_user: tuple[str, dict[str, str]]
) -> None:
    """The api holds one page at a time: with page 3 held back, the rows of pages 1 and 2
    are already at the client."""
    _, headers = csv_user
    service: UsageService = usage_stack.app.state[USAGE_KEY]
    original = service.metering
    gated = GatedMetering(original, gate_at=3)
    service.metering = gated
    try:
        data = bytearray()
        async with usage_stack.http.stream(
            "GET", "/api/usage/records.csv", headers=headers, params=JANUARY
        ) as response:
            assert response.status_code == 200
            chunks = response.aiter_raw()

            async def read_two_pages() -> None:
                while data.count(b"\r\n") < 1 + 2 * PAGE:
                    data.extend(await anext(chunks))

            await asyncio.wait_for(read_two_pages(), 20)
            await asyncio.wait_for(gated.waiting.wait(), 20)
            assert not gated.gate.is_set()
            assert gated.record_calls == 3
            gated.gate.set()
            async for chunk in chunks:
                data.extend(chunk)
    finally:
        service.metering = original
    assert data.count(b"\r\n") == 1 + CSV_ROWS
    assert gated.record_calls == CSV_ROWS // PAGE


async def test_metering_down_is_503(usage_stack: UsageStack) -> None:
    """Last in the module: stops metering."""
    usage_stack.stop_metering.set()
    assert await asyncio.wait_for(usage_stack.metering, 30) == 0
    for path in ("/api/usage", "/api/usage/records.csv", "/api/admin/usage"):
        response = await usage_stack.http.get(path, headers=usage_stack.admin)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response.headers["retry-after"]
