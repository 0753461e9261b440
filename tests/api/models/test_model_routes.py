"""The models routes on a live stack: nats-server, model-admin in-process
(``model_admin.app.run``), persistence, the real api under uvicorn and the real worker
with the scripted engine; the command an activate sends is read with a plain NATS
subscriber, like an operator's ``nats sub``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts import subjects
from contracts.codec import decode_activate, encode
from model_admin.registry import DEFAULT_PROFILE_DIR, load_profiles
from tests.api.conftest import LiveApi
from tests.inference_worker.harness import running_worker, unique, worker_env
from tests.model_admin.harness import eventually, running, settings_for

pytestmark = pytest.mark.nats

CPU = {"device": "cpu", "count": 1, "memory_gib": 16.0}
TWO_3090 = {"device": "cuda", "count": 2, "memory_gib": 24.0}
H100 = {"device": "cuda", "count": 1, "memory_gib": 80.0}


@pytest.fixture
def live_api_overrides() -> dict[str, Any]:
    return {"model_resolve_ttl_s": 0.2, "model_admin_timeout_s": 3.0}


@dataclass
class Live:
    api: LiveApi
    http: httpx.AsyncClient
    nc: NatsClient
    group: str
    worker_id: str

    @property
    def headers(self) -> dict[str, str]:
        return self.api.headers


@pytest.fixture
async def live(
    live_api: LiveApi, nats_client: NatsClient, nats_url: str, tmp_path: Path
) -> AsyncIterator[Live]:
    group = live_api.settings.default_model
    async with running(settings_for(nats_url, tmp_path / "model-admin"), nats_client):
        env = worker_env(nats_url, group)
        async with running_worker(nats_client, env) as worker:
            async with httpx.AsyncClient(base_url=live_api.base_url, timeout=20.0) as http:
                yield Live(live_api, http, nats_client, group, worker.settings.worker_id)


async def _chat(live: Live, model: str) -> httpx.Response:
    return await live.http.post(
        "/api/chat",
        json={"messages": [{"role": "user", "content": "hi [[tokens=3]]"}], "model": model},
        headers=live.headers,
    )


def _start_model(response: httpx.Response) -> str:
    for block in response.text.split("\n\n"):
        if block.startswith("event: start"):
            data = block.split("data: ", 1)[1]
            return str(json.loads(data)["model"])
    raise AssertionError(response.text)


async def test_models_for_users_and_admins(live: Live) -> None:
    users = (await live.http.get("/api/models", headers=live.headers)).json()
    assert users["source"] == "model-admin"
    small = next(m for m in users["models"] if m["id"] == "gemma3-270m")
    assert "default" in small["aliases"]
    assert small["defaults"]["max_tokens"] > 0

    async def worker_listed() -> dict[str, Any] | None:
        body = (await live.http.get("/api/admin/models", headers=live.headers)).json()
        return next((w for w in body["workers"] if w["worker_id"] == live.worker_id), None)

    worker = await eventually(worker_listed, 10.0)
    assert worker["group"] == live.group
    assert worker["state"] == "ready"
    assert worker["gone"] is False
    body = (await live.http.get("/api/admin/models", headers=live.headers)).json()
    assert len(body["profiles"]) >= 11
    cards = (await live.http.get("/v1/models", headers=live.headers)).json()["data"]
    assert {"default", "r1-14b", live.group} <= {c["id"] for c in cards}


async def test_dry_run_refuses_the_14b_preset_with_numbers(live: Live) -> None:
    path = "/api/admin/models/deepseek-r1-distill-qwen-14b/activate"
    on_cpu = await live.http.post(
        path, json={"dry_run": True, "group": live.group, "hardware": CPU}, headers=live.headers
    )
    assert on_cpu.status_code == 200, on_cpu.text
    body = on_cpu.json()
    assert body["fits"] is False
    assert body["needed_gib"] > body["available_gib"] > 0
    assert "cuda" in body["reason"]
    on_3090 = await live.http.post(
        path, json={"dry_run": True, "hardware": TWO_3090}, headers=live.headers
    )
    assert on_3090.json()["reason"] == "needs 32.0 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB"
    # refused for real too, before anything is sent
    refused = await live.http.post(
        path, json={"group": unique("idle"), "hardware": CPU}, headers=live.headers
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "profile_incompatible"


async def test_activate_sends_the_command_and_the_sse_stream_shows_it(live: Live) -> None:
    group = unique("idle")  # no worker: the command is only observed, nothing swaps
    commands: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await live.nc.subscribe(subjects.command_subject(group), cb=commands.put)
    frames: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def read_sse() -> None:
        async with live.http.stream(
            "GET", "/api/admin/models/events", headers=live.headers
        ) as response:
            assert response.status_code == 200
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    await frames.put((event, json.loads(line[6:])))

    reader = asyncio.create_task(read_sse())
    try:
        event, snapshot = await asyncio.wait_for(frames.get(), 10)
        assert event == "snapshot"
        assert snapshot["available"] is True
        response = await live.http.post(  # a profile no worker here runs
            "/api/admin/models/qwen2.5-7b-instruct/activate",
            json={"group": group, "hardware": H100, "drain_timeout_s": 7},
            headers=live.headers,
        )
        assert response.status_code == 200, response.text
        accepted = response.json()["accepted"]
        command = decode_activate((await asyncio.wait_for(commands.get(), 5)).data)
        assert command.command_id == accepted["command_id"]
        assert command.profile.id == "qwen2.5-7b-instruct"
        assert command.drain_timeout_s == 7
        assert command.issued_by == "dev-admin"
        while True:
            event, data = await asyncio.wait_for(frames.get(), 5)
            if event == "desired" and data["desired"]["group"] == group:
                break
    finally:
        reader.cancel()  # the client goes away; the api's teardown checks the stream ended
        await asyncio.gather(reader, return_exceptions=True)
        await sub.unsubscribe()


async def test_alias_repointing_takes_effect_for_chats(live: Live) -> None:
    alias = unique("fast")
    assert (await _chat(live, alias)).status_code == 404
    spec = load_profiles(DEFAULT_PROFILE_DIR).get("gemma3-270m")
    mine = msgspec.structs.replace(spec, id=live.group, aliases=(), display_name="this worker")
    added = await live.http.post("/api/admin/models", content=encode(mine), headers=live.headers)
    assert added.status_code == 201, added.text
    bad = await live.http.post(
        "/api/admin/models", json={"id": unique("bad"), "display_name": "x"}, headers=live.headers
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "profile_invalid"

    # the profile the worker runs: what its heartbeat says (a worker with WORKER_PROFILE),
    # else the one its group name is (the profile just added)
    async def running_profile() -> str | None:
        body = (await live.http.get("/api/admin/models", headers=live.headers)).json()
        worker = next((w for w in body["workers"] if w["worker_id"] == live.worker_id), None)
        return None if worker is None else str(worker["profile_id"] or live.group)

    profile = await eventually(running_profile, 10.0)
    pointed = await live.http.put(
        f"/api/admin/aliases/{alias}", json={"profile": profile}, headers=live.headers
    )
    assert pointed.status_code == 200, pointed.text
    assert pointed.json()["group"] == live.group
    assert pointed.json()["served"] is True
    response = await _chat(live, alias)
    assert response.status_code == 200, response.text
    assert _start_model(response) == live.group
    assert "event: done" in response.text

    # re-pointed at a profile no live worker runs: a clear 503, not a hang
    await live.http.put(
        f"/api/admin/aliases/{alias}",
        json={"profile": "phi-3.5-mini-instruct"},
        headers=live.headers,
    )
    await asyncio.sleep(0.3)  # MODEL_RESOLVE_TTL_S of this api
    response = await _chat(live, alias)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "model_unavailable"
    assert response.headers["retry-after"]
