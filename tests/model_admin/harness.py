"""Run model-admin in-process (``model_admin.app.run``) and talk to it as the api, a
worker or an operator with the NATS CLI would: plain nats-py requests and publishes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.admin import WorkerHardware
from contracts.codec import encode
from contracts.rpc import Reply, RpcError
from contracts.workers import WorkerState, WorkerStatus
from model_admin.app import run
from model_admin.settings import ModelAdminSettings

T = TypeVar("T")

CPU_HOST = WorkerHardware(device="cpu", count=1, memory_gib=10.34, name="this host")
TWO_3090 = WorkerHardware(device="cuda", count=2, memory_gib=24.0, name="RTX 3090")


def settings_for(nats_url: str, data_dir: Path, **overrides: Any) -> ModelAdminSettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "data_dir": data_dir,
        "sweep_interval_s": 0.1,
        "nats_connect_timeout_s": 10.0,
        "drain_timeout_s": 2.0,
    }
    return ModelAdminSettings(**(values | overrides))


async def call(nc: NatsClient, subject: str, request: msgspec.Struct, ok: type[T]) -> Reply[T]:
    msg = await nc.request(subject, encode(request), timeout=5)
    return msgspec.json.decode(msg.data, type=Reply[ok])  # type: ignore[valid-type]


async def ok(nc: NatsClient, subject: str, request: msgspec.Struct, result: type[T]) -> T:
    reply = await call(nc, subject, request, result)
    assert reply.ok is not None, reply.error
    return reply.ok


async def refused(nc: NatsClient, subject: str, request: msgspec.Struct) -> RpcError:
    reply = await call(nc, subject, request, dict)
    assert reply.error is not None, reply.ok
    return reply.error


def heartbeat(
    worker_id: str,
    group: str,
    *,
    hardware: WorkerHardware | None = CPU_HOST,
    state: WorkerState = "ready",
    interval_s: float = 1.0,
    profile_id: str | None = None,
) -> WorkerStatus:
    return WorkerStatus(
        worker_id=worker_id,
        model=group,
        state=state,
        in_flight=0,
        capacity=16,
        engine="scripted",
        interval_s=interval_s,
        sent_at=time.time(),
        hardware=hardware,
        profile_id=profile_id,
    )


async def beat(nc: NatsClient, status: WorkerStatus) -> None:
    await nc.publish(subjects.heartbeat_subject(status.worker_id), encode(status))
    await nc.flush()


async def eventually(check: Any, timeout_s: float = 5.0) -> Any:
    """Await ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s}s: {result!r}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(settings: ModelAdminSettings, nc: NatsClient) -> AsyncIterator[None]:
    from contracts.admin import ListProfiles, ProfileList

    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))

    async def answers() -> bool:
        try:
            await call(nc, subjects.ADMIN_PROFILES_LIST, ListProfiles(), ProfileList)
        except Exception:
            return False
        return True

    try:
        await eventually(answers, 20.0)
        yield
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
