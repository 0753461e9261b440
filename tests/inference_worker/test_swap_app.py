"""Live swaps through the real worker app on a real nats-server, with the scripted engine.

Commands go out exactly as an operator sends them with the NATS CLI (a plain core
publish on ``command_subject(group)`` with a ``Nats-Msg-Id`` header, which the
MODEL_ADMIN stream captures); the statuses are read from ``swap_status_subject``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import msgspec
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts import subjects
from contracts.admin import (
    ActivateProfile,
    CheckProfile,
    CheckResult,
    CompatibilityReport,
    DesiredState,
    HardwareCheck,
    MemoryBreakdown,
    ProfileSpec,
    SwapStatus,
)
from contracts.codec import decode_swap_status, encode
from contracts.events import RequestCompleted
from contracts.inference import StreamStarted, TokenChunk
from contracts.rpc import Reply
from contracts.streams import ensure_model_admin
from inference_worker.engine import Engine, ScriptedEngine
from inference_worker.settings import WorkerSettings
from model_admin.registry import load_profiles
from tests.inference_worker.harness import Client, running_worker, unique, worker_env

pytestmark = pytest.mark.nats

PROFILES = load_profiles()
LONG = PROFILES.get("gemma3-270m-long")
LOAD_S = 1.0
"""Scripted load time of the second profile: requests published meanwhile must wait."""


def factory(*, failing: frozenset[str] = frozenset()) -> ScriptedEngineFactory:
    return ScriptedEngineFactory(failing)


class ScriptedEngineFactory:
    """Scripted engines; the long profile takes ``LOAD_S`` to load (or fails to)."""

    def __init__(self, failing: frozenset[str]) -> None:
        self.failing = failing
        self.built: list[str] = []

    def __call__(self, settings: WorkerSettings) -> Engine:
        self.built.append(settings.profile_id)
        slow = settings.profile_id == LONG.id
        return ScriptedEngine(
            tokens_per_s=500,
            start_s=LOAD_S if slow else 0.0,
            fail_start=settings.profile_id in self.failing,
        )


class Statuses:
    def __init__(self) -> None:
        self.seen: list[SwapStatus] = []
        self.final = asyncio.Event()

    async def on_msg(self, msg: Msg) -> None:
        status = decode_swap_status(msg.data)
        self.seen.append(status)
        if status.phase in ("ready", "failed", "rolled_back"):
            self.final.set()

    def phases(self) -> list[str]:
        return [s.phase for s in self.seen]

    async def wait(self, within: float = 15.0) -> SwapStatus:
        async with asyncio.timeout(within):
            await self.final.wait()
        return self.seen[-1]


async def publish_command(nc: NatsClient, group: str, profile: ProfileSpec) -> str:
    """As `nats pub model-admin.v1.commands.<group> '<json>' -H Nats-Msg-Id:<id>` does."""
    command_id = str(uuid.uuid4())
    command = ActivateProfile(
        command_id=command_id,
        group=group,
        profile=profile,
        drain_timeout_s=5,
        issued_by="ops",
        at=time.time(),
    )
    await nc.publish(
        subjects.command_subject(group),
        encode(command),
        headers={subjects.MSG_ID_HEADER: command_id},
    )
    await nc.flush()
    return command_id


async def watch_statuses(nc: NatsClient, worker_id: str) -> Statuses:
    statuses = Statuses()
    await nc.subscribe(subjects.swap_status_subject(worker_id), cb=statuses.on_msg)
    await nc.flush()
    return statuses


async def test_cli_command_swaps_the_worker_and_queued_requests_are_served_after(
    nats_client: NatsClient, nats_url: str
) -> None:
    client = Client(nats_client)
    await client.start()
    group = unique("g")
    env = worker_env(nats_url, group)
    engines = factory()
    async with running_worker(nats_client, env, engine_factory=engines) as worker:
        first = await worker.heartbeats.wait_for("ready")
        assert first.profile_id == "gemma3-270m"
        assert first.hardware is not None
        assert first.hardware.device == "cpu"
        assert first.hardware.count == 1
        assert first.hardware.memory_gib > 0
        statuses = await watch_statuses(nats_client, worker.settings.worker_id)
        in_flight = await client.send(group, "before [[tokens=150]]")
        await in_flight.started.wait()
        command_id = await publish_command(nats_client, group, LONG)
        await worker.heartbeats.wait_for("draining")
        during = [await client.send(group, f"during {i} [[tokens=5]]") for i in range(4)]
        final = await statuses.wait()
        ready_at = time.perf_counter()
        done = [await s.wait() for s in (in_flight, *during)]
        status = await worker.heartbeats.wait_until(lambda s: s.profile_id == LONG.id)

    assert statuses.phases() == ["draining", "unloading", "loading", "ready"]
    assert final.command_id == command_id
    assert final.profile_id == LONG.id
    assert final.swap_s is not None
    assert final.swap_s >= LOAD_S
    assert status.command_id == command_id
    assert status.capacity == LONG.engine.max_num_seqs
    assert engines.built == [LONG.id]
    # the request in flight finished on the old engine (drain), none was lost
    assert isinstance(done[0].events[-1], RequestCompleted)
    for stream in done[1:]:
        assert isinstance(stream.chunks[0], StreamStarted)
        last = stream.chunks[-1]
        assert isinstance(last, TokenChunk)
        assert last.finish_reason == "stop"
        assert isinstance(stream.events[-1], RequestCompleted)
        # served only once the new engine was up
        assert stream.chunk_times[0] >= ready_at - 0.5
    states = worker.heartbeats.states()
    assert states[:5] == ["loading", "ready", "draining", "loading", "ready"]
    # The swap's drain says "swapping" (the api queues requests for it); the shutdown
    # drain at the end does not, though the worker keeps its last command id.
    drains = [s for s in worker.heartbeats.seen if s.state == "draining"]
    assert drains[0].swapping
    assert drains[-1].command_id == command_id
    assert not drains[-1].swapping


async def test_a_redelivered_command_is_skipped(nats_client: NatsClient, nats_url: str) -> None:
    group = unique("g")
    engines = factory()
    async with running_worker(
        nats_client, worker_env(nats_url, group), engine_factory=engines
    ) as worker:
        statuses = await watch_statuses(nats_client, worker.settings.worker_id)
        command = ActivateProfile(
            command_id="c-1", group=group, profile=LONG, drain_timeout_s=1, at=time.time()
        )
        # published twice without de-duplication (another id header): applied once
        for msg_id in ("a", "b"):
            await nats_client.publish(
                subjects.command_subject(group),
                encode(command),
                headers={subjects.MSG_ID_HEADER: msg_id},
            )
        await statuses.wait()
        await asyncio.sleep(LOAD_S + 0.5)
    assert statuses.phases() == ["draining", "unloading", "loading", "ready"]
    assert engines.built == [LONG.id]


async def test_load_failure_rolls_back_and_the_old_profile_serves(
    nats_client: NatsClient, nats_url: str
) -> None:
    client = Client(nats_client)
    await client.start()
    group = unique("g")
    engines = factory(failing=frozenset({LONG.id}))
    async with running_worker(
        nats_client, worker_env(nats_url, group), engine_factory=engines
    ) as worker:
        statuses = await watch_statuses(nats_client, worker.settings.worker_id)
        await publish_command(nats_client, group, LONG)
        final = await statuses.wait()
        after = await (await client.send(group, "after [[tokens=3]]")).wait()
        beat = await worker.heartbeats.wait_for("ready")
    assert statuses.phases() == ["draining", "unloading", "loading", "rolled_back"]
    assert "told to fail" in final.detail
    assert engines.built == [LONG.id, "gemma3-270m"]
    assert beat.profile_id == "gemma3-270m"
    assert isinstance(after.events[-1], RequestCompleted)


async def test_a_restarted_worker_loads_the_desired_profile(
    nats_client: NatsClient, nats_url: str
) -> None:
    js = nats_client.jetstream()
    await ensure_model_admin(js)
    group = unique("g")
    command_id = await publish_command(nats_client, group, LONG)  # nobody listens yet
    kv = await js.key_value(subjects.DESIRED_STATE_BUCKET)
    desired = DesiredState(
        group=group,
        profile_id=LONG.id,
        command_id=command_id,
        set_at=time.time(),
        set_by="ops",
        previous_profile_id="gemma3-270m",
    )
    await kv.put(subjects.subject_token(group), encode(desired))
    engines = factory()
    async with running_worker(
        nats_client, worker_env(nats_url, group), engine_factory=engines
    ) as worker:
        ready = await worker.heartbeats.wait_for("ready")
    assert engines.built == [LONG.id]
    assert ready.profile_id == LONG.id
    assert ready.command_id == command_id
    assert ready.capacity == LONG.engine.max_num_seqs


def does_not_fit(reason: str) -> CompatibilityReport:
    return CompatibilityReport(
        fits=False,
        needed_gib=99.0,
        available_gib=1.0,
        breakdown=MemoryBreakdown(
            weights_gib=98.0,
            kv_cache_gib=0.5,
            overhead_gib=0.5,
            kv_per_token_kib=1.0,
            kv_all_sequences_gib=1.0,
            full_length_sequences=0,
        ),
        reason=reason,
    )


class FakeModelAdmin:
    """Answers ``profiles.check`` with ``report`` and keeps what it was asked."""

    def __init__(self, report: CompatibilityReport) -> None:
        self.report = report
        self.asked: list[CheckProfile] = []

    async def on_msg(self, msg: Msg) -> None:
        request = msgspec.json.decode(msg.data, type=CheckProfile)
        self.asked.append(request)
        assert request.hardware is not None
        check = HardwareCheck(hardware=request.hardware, report=self.report)
        result = CheckResult(
            profile_id=request.profile,
            group=None,
            fits=self.report.fits,
            checks=[check],
            reason=self.report.reason,
        )
        await msg.respond(encode(Reply(ok=result)))


async def test_a_command_without_a_verdict_is_checked_by_model_admin(
    nats_client: NatsClient, nats_url: str
) -> None:
    admin = FakeModelAdmin(does_not_fit("needs 99.0 GiB, 1x 1 GiB at 0.9 gives 0.9 GiB"))
    sub = await nats_client.subscribe(subjects.ADMIN_PROFILES_CHECK, cb=admin.on_msg)
    group = unique("g")
    engines = factory()
    try:
        async with running_worker(
            nats_client, worker_env(nats_url, group), engine_factory=engines
        ) as worker:
            first = await worker.heartbeats.wait_for("ready")
            statuses = await watch_statuses(nats_client, worker.settings.worker_id)
            await publish_command(nats_client, group, LONG)  # as an operator would: no verdict
            final = await statuses.wait()
    finally:
        await sub.unsubscribe()
    assert statuses.phases() == ["failed"]
    assert final.detail.startswith("needs 99.0 GiB")
    assert [(a.profile, a.hardware) for a in admin.asked] == [(LONG.id, first.hardware)]
    assert engines.built == []


async def test_the_verdict_in_the_command_for_this_hardware_decides(
    nats_client: NatsClient, nats_url: str
) -> None:
    group = unique("g")
    engines = factory()
    async with running_worker(
        nats_client, worker_env(nats_url, group), engine_factory=engines
    ) as worker:
        first = await worker.heartbeats.wait_for("ready")
        assert first.hardware is not None
        statuses = await watch_statuses(nats_client, worker.settings.worker_id)
        command = ActivateProfile(
            command_id=str(uuid.uuid4()),
            group=group,
            profile=LONG,
            at=time.time(),
            checks=[
                HardwareCheck(
                    hardware=first.hardware,
                    report=does_not_fit("needs 99.0 GiB, 1x 1 GiB at 0.9 gives 0.9 GiB"),
                )
            ],
        )
        await nats_client.publish(subjects.command_subject(group), encode(command))
        final = await statuses.wait()
    assert statuses.phases() == ["failed"]
    assert final.detail.startswith("needs 99.0 GiB")
    assert engines.built == []


async def test_a_command_whose_profile_does_not_validate_is_refused(
    nats_client: NatsClient, nats_url: str
) -> None:
    group = unique("g")
    engines = factory()
    async with running_worker(
        nats_client, worker_env(nats_url, group), engine_factory=engines
    ) as worker:
        await worker.heartbeats.wait_for("ready")
        statuses = await watch_statuses(nats_client, worker.settings.worker_id)
        profile = msgspec.to_builtins(LONG)
        profile["engine"]["gpu_memory_utilization"] = 1.5
        command = {"command_id": "bad-1", "group": group, "profile": profile, "at": time.time()}
        await nats_client.publish(subjects.command_subject(group), json.dumps(command).encode())
        final = await statuses.wait()
        beat = await worker.heartbeats.wait_for("ready")
    assert statuses.phases() == ["failed"]
    assert (final.command_id, final.profile_id) == ("bad-1", LONG.id)
    assert final.detail.startswith(f"profile {LONG.id} is invalid: ")
    assert "gpu_memory_utilization 1.5 is outside (0, 1]" in final.detail
    assert engines.built == []
    assert beat.profile_id == "gemma3-270m"
