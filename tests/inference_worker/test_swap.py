"""``Swapper`` / ``EngineHost`` with the scripted stand-in engine and fake sinks (no NATS)."""

from __future__ import annotations

import asyncio
import time
import uuid
from functools import partial
from pathlib import Path

import pytest

from contracts.admin import (
    ActivateProfile,
    CompatibilityReport,
    HardwareCheck,
    ProfileSpec,
    SwapStatus,
)
from contracts.events import RequestCancelled, RequestCompleted
from contracts.inference import StreamError
from contracts.workers import WorkerHardware, WorkerState
from inference_worker.engine import Engine, ScriptedEngine
from inference_worker.generation import Generation
from inference_worker.hardware import FitCheck, cpu_hardware
from inference_worker.inflight import InFlight
from inference_worker.prompt import PromptBuilder
from inference_worker.settings import SettingsError, WorkerSettings, load_settings
from inference_worker.swap import EngineHost, Swapper
from model_admin.memory import Hardware, check_compatibility
from model_admin.registry import load_profiles
from tests.inference_worker.fakes import ListChunkSink, ListEventSink
from tests.inference_worker.test_generation import make_request

WAIT = 5.0
PROFILES = load_profiles()
SHORT = PROFILES.get("gemma3-270m")
LONG = PROFILES.get("gemma3-270m-long")


class ListStatusSink:
    def __init__(self) -> None:
        self.statuses: list[SwapStatus] = []

    async def report(self, status: SwapStatus) -> None:
        self.statuses.append(status)

    def phases(self) -> list[str]:
        return [s.phase for s in self.statuses]


class FakeState:
    def __init__(self) -> None:
        self.profile_id: str | None = "gemma3-270m"
        self.command_id: str | None = None
        self.swapping = False
        self.states: list[WorkerState] = []
        self.swapping_seen: list[bool] = []

    async def set_state(self, state: WorkerState, detail: str = "") -> None:
        self.states.append(state)
        self.swapping_seen.append(self.swapping)


class FakeIntake:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")


class CountingEngine(ScriptedEngine):
    """Scripted engine that records its starts and shutdowns (and can refuse to start)."""

    def __init__(self, profile_id: str, *, fail_start: bool = False) -> None:
        super().__init__(tokens_per_s=100.0, text="a b c d e f g h", fail_start=fail_start)
        self.profile_id = profile_id
        self.started = False
        self.shut_down = False

    async def start(self) -> None:
        await super().start()
        self.started = True

    async def shutdown(self) -> None:
        self.shut_down = True
        await super().shutdown()


class Rig:
    """A swapper over a real ``EngineHost`` + ``InFlight`` and fake bus adapters."""

    def __init__(
        self,
        *,
        failing: frozenset[str] = frozenset(),
        refuse: str | None = None,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.settings = settings or load_settings(
            {"WORKER_ENGINE": "scripted", "WORKER_ID": "w1", "WORKER_MODEL": "g"}
        )
        self.built: list[CountingEngine] = []
        self.failing = set(failing)
        self.first = CountingEngine(self.settings.profile_id)
        self.host = EngineHost(self.settings, self.first, factory=self.factory)
        self.inflight = InFlight(self.settings.capacity)
        self.intake = FakeIntake()
        self.state = FakeState()
        self.statuses = ListStatusSink()
        self.swapper = Swapper(
            worker_id="w1",
            group="g",
            host=self.host,
            intake=self.intake,
            inflight=self.inflight,
            state=self.state,
            statuses=self.statuses,
            compatibility=partial(self.verdict, refuse),
            cancel_grace_s=2.0,
        )

    @staticmethod
    async def verdict(refuse: str | None, command: ActivateProfile) -> str | None:
        return refuse

    def factory(self, settings: WorkerSettings) -> Engine:
        engine = CountingEngine(settings.profile_id, fail_start=settings.profile_id in self.failing)
        self.built.append(engine)
        return engine

    def generation(self, content: str, request_id: str) -> tuple[Generation, ListEventSink]:
        engine = self.host.engine
        prompts = PromptBuilder(
            engine.tokenizer, fallback_template="gemma", max_model_len=4096, default_max_tokens=64
        )
        events = ListEventSink()
        generation = Generation(
            make_request(content, request_id=request_id),
            engine=engine,
            prompts=prompts,
            chunks=ListChunkSink(),
            events=events,
            worker_id="w1",
            model="g",
        )
        return generation, events


def command(profile: ProfileSpec = LONG, *, drain_timeout_s: float = 5.0) -> ActivateProfile:
    return ActivateProfile(
        command_id=uuid.uuid4().hex,
        group="g",
        profile=profile,
        drain_timeout_s=drain_timeout_s,
        issued_by="test",
        at=time.time(),
    )


async def test_phases_in_order_and_the_new_profile_serves() -> None:
    rig = Rig()
    await rig.host.start()
    cmd = command()
    assert await rig.swapper.apply(cmd) == "ready"
    assert rig.statuses.phases() == ["draining", "unloading", "loading", "ready"]
    assert {s.command_id for s in rig.statuses.statuses} == {cmd.command_id}
    assert {s.profile_id for s in rig.statuses.statuses} == {"gemma3-270m-long"}
    final = rig.statuses.statuses[-1]
    assert final.swap_s is not None
    assert final.swap_s >= 0
    assert rig.first.shut_down
    assert rig.host.profile_id == "gemma3-270m-long"
    assert rig.host.engine is rig.built[0]
    assert rig.built[0].started
    # the profile's engine arguments replaced the env ones
    assert rig.host.settings.max_model_len == 8192
    assert rig.host.settings.max_num_seqs == 8
    assert rig.intake.calls == ["pause", "resume"]
    assert rig.state.states == ["draining", "loading", "loading", "ready"]
    # The api accepts requests for the group while it drains and loads, not after.
    assert rig.state.swapping_seen == [True, True, True, False]
    assert (rig.state.profile_id, rig.state.command_id) == ("gemma3-270m-long", cmd.command_id)


async def test_drain_waits_for_in_flight_then_cancels_the_rest() -> None:
    rig = Rig()
    await rig.host.start()
    short, short_events = rig.generation("[[tokens=5]]", "short")
    hung, hung_events = rig.generation("[[hang]]", "hung")
    for generation in (short, hung):
        await rig.inflight.acquire_slot()
        rig.inflight.start(generation)
    await asyncio.sleep(0)
    started = time.monotonic()
    assert await rig.swapper.apply(command(drain_timeout_s=0.5)) == "ready"
    assert time.monotonic() - started >= 0.5
    assert rig.statuses.statuses[0].detail == "2 in flight"
    # the short one finished on the old engine; the hung one was cancelled (shutting_down)
    assert isinstance(short_events.events[-1], RequestCompleted)
    cancelled = hung_events.events[-1]
    assert isinstance(cancelled, RequestCancelled)
    assert cancelled.reason == "shutdown"
    assert hung.outcome == "cancelled"
    assert len(rig.inflight) == 0


async def test_drain_returns_as_soon_as_in_flight_finish() -> None:
    rig = Rig()
    await rig.host.start()
    generation, events = rig.generation("[[tokens=5]]", "r")
    await rig.inflight.acquire_slot()
    rig.inflight.start(generation)
    started = time.monotonic()
    assert await rig.swapper.apply(command(drain_timeout_s=30)) == "ready"
    assert time.monotonic() - started < 5
    assert isinstance(events.events[-1], RequestCompleted)


async def test_incompatible_profile_refused_before_anything_unloads() -> None:
    rig = Rig(refuse="needs 31.2 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB")
    await rig.host.start()
    assert await rig.swapper.apply(command()) == "failed"
    [status] = rig.statuses.statuses
    assert status.phase == "failed"
    assert "needs 31.2 GiB" in status.detail
    assert not rig.first.shut_down
    assert rig.host.engine is rig.first
    assert rig.intake.calls == []
    assert rig.state.states == []
    assert rig.built == []


def model_admin_checks(profile: ProfileSpec, *hardware: WorkerHardware) -> list[HardwareCheck]:
    """What model-admin puts in the command: its estimate on each hardware kind."""
    return [
        HardwareCheck(
            hardware=h,
            report=check_compatibility(
                profile, Hardware(device=h.device, count=h.count, memory_gib=h.memory_gib)
            ),
        )
        for h in hardware
    ]


class AskedModelAdmin:
    """Stands in for ``check_with_model_admin``: answers ``report`` and counts the asks."""

    def __init__(self, report: CompatibilityReport | None = None) -> None:
        self.report = report
        self.asked: list[tuple[str, WorkerHardware]] = []

    async def __call__(
        self, profile: ProfileSpec, hardware: WorkerHardware
    ) -> CompatibilityReport | None:
        self.asked.append((profile.id, hardware))
        return self.report


async def test_model_admin_estimate_refuses_a_gpu_profile_on_this_cpu() -> None:
    hardware = cpu_hardware()
    assert hardware.device == "cpu"
    assert hardware.count == 1
    assert hardware.memory_gib > 0
    ask = AskedModelAdmin()
    here = FitCheck(lambda: hardware, ask)
    assert await here.refusal(LONG, model_admin_checks(LONG, hardware)) is None
    big = PROFILES.get("deepseek-r1-distill-qwen-14b")
    reason = await here.refusal(big, model_admin_checks(big, hardware))
    assert reason is not None
    assert "cuda" in reason
    tiny = WorkerHardware(device="cpu", count=1, memory_gib=1.0, name="small box")
    # one verdict per hardware kind in the group; the worker takes its own
    checks = model_admin_checks(
        LONG, hardware, WorkerHardware(device="cpu", count=1, memory_gib=1.0)
    )
    reason = await FitCheck(lambda: tiny, ask).refusal(LONG, checks)
    assert reason is not None
    assert reason.startswith("needs ")
    assert "gives" in reason
    assert ask.asked == []  # every command carried the verdict


async def test_without_a_verdict_for_its_hardware_the_worker_asks_model_admin() -> None:
    hardware = WorkerHardware(device="cpu", count=1, memory_gib=1.0)
    [other] = model_admin_checks(LONG, WorkerHardware(device="cpu", count=1, memory_gib=64.0))
    [mine] = model_admin_checks(LONG, hardware)
    ask = AskedModelAdmin(mine.report)
    reason = await FitCheck(lambda: hardware, ask).refusal(LONG, [other])
    assert reason is not None
    assert reason.startswith("needs ")
    assert ask.asked == [(LONG.id, hardware)]


async def test_no_verdict_to_be_had_lets_the_swap_go_on() -> None:
    silent = AskedModelAdmin(None)  # model-admin down, or the profile not in its catalog
    hardware = cpu_hardware()
    assert await FitCheck(lambda: hardware, silent).refusal(LONG) is None
    assert silent.asked == [(LONG.id, hardware)]
    unknown = AskedModelAdmin(None)
    assert await FitCheck(lambda: None, unknown).refusal(LONG) is None
    assert unknown.asked == []  # hardware unknown: nothing to check against


async def test_profile_without_a_model_folder_is_refused_before_unloading(tmp_path: Path) -> None:
    settings = load_settings(
        {"WORKER_ENGINE": "vllm", "WORKER_ID": "w1", "MODEL_CACHE_DIR": str(tmp_path)}
    )
    with pytest.raises(SettingsError, match="WORKER_MODEL_PATHS"):
        settings.for_profile(PROFILES.get("qwen2.5-7b-instruct"))
    rig = Rig(settings=settings)
    await rig.host.start()
    assert await rig.swapper.apply(command()) == "failed"  # gemma folder not prepared here
    assert "not found" in rig.statuses.statuses[-1].detail
    assert not rig.first.shut_down


async def test_load_failure_rolls_back_to_the_previous_profile() -> None:
    rig = Rig(failing=frozenset({"gemma3-270m-long"}))
    await rig.host.start()
    assert await rig.swapper.apply(command()) == "rolled_back"
    assert rig.statuses.phases() == ["draining", "unloading", "loading", "rolled_back"]
    assert "told to fail" in rig.statuses.statuses[-1].detail
    assert rig.host.profile_id == "gemma3-270m"
    failed_new, previous = rig.built
    assert failed_new.shut_down
    assert previous.started
    assert rig.host.engine is previous
    assert rig.host.settings.max_model_len == 4096
    assert rig.intake.calls == ["pause", "resume"]
    assert rig.state.states[-1] == "ready"
    assert rig.state.profile_id == "gemma3-270m"
    # the previous profile serves again
    generation, events = rig.generation("[[tokens=3]]", "after")
    await rig.inflight.acquire_slot()
    await rig.inflight.start(generation)
    assert isinstance(events.events[-1], RequestCompleted)


async def test_rollback_that_fails_too_reports_failed() -> None:
    rig = Rig(failing=frozenset({"gemma3-270m-long", "gemma3-270m"}))
    await rig.host.start()
    assert await rig.swapper.apply(command()) == "failed"
    assert rig.statuses.phases() == ["draining", "unloading", "loading", "failed"]
    assert "rollback to gemma3-270m failed too" in rig.statuses.statuses[-1].detail
    assert rig.state.states[-1] == "failed"
    assert rig.state.profile_id is None
    assert rig.intake.calls == ["pause"]  # nothing is pulled: requests stay queued


async def test_a_command_already_applied_is_skipped() -> None:
    rig = Rig()
    await rig.host.start()
    cmd = command()
    assert await rig.swapper.apply(cmd) == "ready"
    assert await rig.swapper.apply(cmd) is None
    assert rig.statuses.phases() == ["draining", "unloading", "loading", "ready"]
    assert len(rig.built) == 1


async def test_the_profile_already_running_is_ready_at_once() -> None:
    rig = Rig()
    await rig.host.start()
    assert await rig.swapper.apply(command(SHORT)) == "ready"
    [status] = rig.statuses.statuses
    assert status.detail == "already serving this profile"
    assert not rig.first.shut_down
    assert rig.intake.calls == []


async def test_stream_error_of_a_cancelled_generation_says_shutting_down() -> None:
    rig = Rig()
    await rig.host.start()
    hung, _ = rig.generation("[[hang]]", "hung")
    chunks = ListChunkSink()
    hung._chunks = chunks  # type: ignore[attr-defined]  # look at its stream
    await rig.inflight.acquire_slot()
    rig.inflight.start(hung)
    await asyncio.sleep(0.05)
    await rig.swapper.apply(command(drain_timeout_s=0.1))
    error = chunks.chunks[-1]
    assert isinstance(error, StreamError)
    assert error.code == "shutting_down"
