"""Live model swaps on one worker (issue 5): ``ActivateProfile`` -> drain, unload, load.

No NATS here: the swap talks to small Protocols (``StatusSink`` for ``SwapStatus``,
``StateSink`` for the heartbeat, ``Intake`` for the request puller, ``Drain`` for the
running generations, a ``Compatibility`` function for model-admin's verdict) and to
``EngineHost``, which owns the engine this worker runs and builds a new one from a profile.

One swap, in order (each phase reported on the swap status subject, the heartbeat state
alongside):

1. skip a ``command_id`` already applied; a profile already running is ``ready`` at once;
2. refuse (``failed``, nothing unloaded, serving goes on) a profile that does not fit this
   worker's hardware (model-admin's verdict, ``FitCheck``) or that it cannot map to engine
   settings (unknown dtype, no folder);
3. ``draining``: stop pulling (queued requests wait in the stream; the request consumer is
   the group's and does not change), let in-flight generations finish up to the command's
   ``drain_timeout_s``, cancel the rest (``shutting_down`` to their clients);
4. ``unloading``: engine shutdown;
5. ``loading``: build and start the new engine; then ``ready`` with ``swap_s`` (the
   heartbeat's ``profile_id`` changes), and pulling resumes;
6. a load failure: load the previous profile again -> ``rolled_back`` (detail = the error),
   pulling resumes on the old profile; if that fails too -> ``failed``, heartbeat
   ``failed``, nothing is pulled (the requests stay queued for the other workers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from contracts.admin import ActivateProfile, ProfileSpec, SwapPhase, SwapStatus
from contracts.inference import CancelReason
from contracts.workers import WorkerState
from inference_worker.engine import Engine
from inference_worker.settings import SettingsError, WorkerSettings

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0
"""After the drain timeout: how long cancelled generations get to report."""
APPLIED_MEMORY = 256
"""Command ids remembered as applied (a redelivery comes within minutes)."""


class StatusSink(Protocol):
    async def report(self, status: SwapStatus) -> None: ...


class StateSink(Protocol):
    """The heartbeat: state changes are published at once; the fields go with every beat."""

    profile_id: str | None
    command_id: str | None
    swapping: bool

    async def set_state(self, state: WorkerState, detail: str = "") -> None: ...


class Intake(Protocol):
    """The request puller of the worker's group."""

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...


class Drain(Protocol):
    """The generations running on this worker (``InFlight``)."""

    def __len__(self) -> int: ...

    async def wait_idle(self, timeout_s: float) -> bool: ...

    def cancel_all(self, reason: CancelReason) -> int: ...


Compatibility = Callable[[ActivateProfile], Awaitable[str | None]]
"""The reason the command's profile cannot run on this worker's hardware, or None."""

EngineFactory = Callable[[WorkerSettings], Engine]
EngineStarter = Callable[[Engine], Awaitable[None]]
Loaded = Callable[[WorkerSettings, Engine], None]


class EngineHost:
    """The engine this worker runs and the settings it was built from."""

    def __init__(
        self,
        settings: WorkerSettings,
        engine: Engine,
        *,
        factory: EngineFactory,
        start: EngineStarter | None = None,
        loaded: Loaded | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._factory = factory
        self._start = start
        self._loaded = loaded

    @property
    def profile_id(self) -> str:
        return self.settings.profile_id

    def plan(self, profile: ProfileSpec) -> WorkerSettings:
        """The settings ``profile`` loads with; ``SettingsError`` if it cannot."""
        return self.settings.for_profile(profile)

    async def start(self) -> None:
        """Start the engine handed in (the first load)."""
        await self._run_start(self.engine)
        if self._loaded is not None:
            self._loaded(self.settings, self.engine)

    async def unload(self) -> None:
        try:
            await self.engine.shutdown()
        except Exception:
            log.exception("engine shutdown failed (going on with the load)")

    async def load(self, settings: WorkerSettings) -> None:
        """Build and start an engine for ``settings``; on failure nothing changes here
        (the half-started engine is shut down) and the error is raised."""
        engine = self._factory(settings)
        try:
            await self._run_start(engine)
        except BaseException:
            try:
                await engine.shutdown()
            except Exception as exc:
                log.debug("shutdown of the engine that failed to start: %r", exc)
            raise
        self.settings, self.engine = settings, engine
        if self._loaded is not None:
            self._loaded(settings, engine)

    async def _run_start(self, engine: Engine) -> None:
        if self._start is None:
            await engine.start()
        else:
            await self._start(engine)


class Swapper:
    """Applies ``ActivateProfile`` commands to this worker, one at a time."""

    def __init__(
        self,
        *,
        worker_id: str,
        group: str,
        host: EngineHost,
        intake: Intake,
        inflight: Drain,
        state: StateSink,
        statuses: StatusSink,
        compatibility: Compatibility,
        cancel_grace_s: float = CANCEL_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._worker_id = worker_id
        self._group = group
        self._host = host
        self._intake = intake
        self._inflight = inflight
        self._state = state
        self._statuses = statuses
        self._compatibility = compatibility
        self._cancel_grace_s = cancel_grace_s
        self._clock = clock
        self._applied: OrderedDict[str, None] = OrderedDict()
        self._lock = asyncio.Lock()

    def mark_applied(self, command_id: str) -> None:
        self._applied[command_id] = None
        self._applied.move_to_end(command_id)
        while len(self._applied) > APPLIED_MEMORY:
            self._applied.popitem(last=False)

    def applied(self, command_id: str) -> bool:
        return command_id in self._applied

    async def apply(self, command: ActivateProfile) -> SwapPhase | None:
        """Run one swap; the final phase, or None for a command already applied."""
        async with self._lock:
            if self.applied(command.command_id):
                log.info("command %s already applied: skipped", command.command_id)
                return None
            self.mark_applied(command.command_id)
            try:
                return await self._apply(command, self._clock())
            except Exception as exc:  # a bug or a bus failure must not end the command loop
                log.exception("swap %s failed unexpectedly", command.command_id)
                await self._report(command, "failed", f"swap failed: {exc!r}"[:500])
                return "failed"

    async def refuse_unreadable(self, command_id: str, profile_id: str, detail: str) -> None:
        """A command whose profile does not validate here: ``failed`` with the reason,
        nothing unloaded, serving goes on. Not behind the swap lock: it changes nothing
        a running swap uses, and the subscription's callback must not wait for a swap."""
        if self.applied(command_id):
            return
        self.mark_applied(command_id)
        log.warning("command %s refused: %s", command_id, detail)
        await self._publish(command_id, profile_id, "failed", detail[:500], swap_s=0.0)

    async def _apply(self, command: ActivateProfile, received: float) -> SwapPhase:
        profile = command.profile
        host = self._host
        self._state.command_id = command.command_id
        log.info(
            "command %s: %s -> %s (drain %.0fs, by %s)",
            command.command_id,
            host.profile_id,
            profile.id,
            command.drain_timeout_s,
            command.issued_by,
        )

        def took() -> float:
            return round(self._clock() - received, 3)

        if profile.id == host.profile_id:
            await self._report(command, "ready", "already serving this profile", swap_s=took())
            return "ready"
        refusal = await self._compatibility(command)
        target: WorkerSettings | None = None
        if refusal is None:
            try:
                target = host.plan(profile)
            except SettingsError as exc:
                refusal = str(exc)
        if refusal is not None or target is None:
            log.warning("command %s refused: %s", command.command_id, refusal)
            await self._report(command, "failed", refusal or "", swap_s=took())
            return "failed"

        previous = host.settings
        # Until the swap ends the api keeps accepting requests for this worker's group
        # (they queue); a shutdown drain, which has no new engine coming, does not.
        self._state.swapping = True
        try:
            await self._drain(command)
            await self._report(command, "unloading", f"stopping {host.profile_id}")
            await self._state.set_state("loading", f"unloading {host.profile_id}")
            await host.unload()
            await self._report(command, "loading", f"loading {profile.id}")
            await self._state.set_state("loading", f"loading {profile.id}")
            try:
                await host.load(target)
            except Exception as exc:
                error = f"loading {profile.id} failed: {exc!r}"[:500]
                log.error("command %s: %s; rolling back to %s", command.command_id, error, previous)
                return await self._roll_back(command, previous, error, took)
        finally:
            self._state.swapping = False
        self._state.profile_id = profile.id
        await self._intake.resume()
        await self._state.set_state("ready")
        await self._report(command, "ready", f"serving {profile.id}", swap_s=took())
        log.info("command %s: serving %s after %.1fs", command.command_id, profile.id, took())
        return "ready"

    async def _drain(self, command: ActivateProfile) -> None:
        in_flight = len(self._inflight)
        await self._report(command, "draining", f"{in_flight} in flight")
        await self._state.set_state("draining", f"swap to {command.profile.id}")
        await self._intake.pause()
        if not await self._inflight.wait_idle(command.drain_timeout_s):
            count = self._inflight.cancel_all("shutdown")
            log.warning(
                "drain timeout (%.0fs): cancelling %d generation(s)",
                command.drain_timeout_s,
                count,
            )
            if not await self._inflight.wait_idle(self._cancel_grace_s):
                log.error("%d generation(s) did not stop", len(self._inflight))

    async def _roll_back(
        self,
        command: ActivateProfile,
        previous: WorkerSettings,
        error: str,
        took: Callable[[], float],
    ) -> SwapPhase:
        await self._state.set_state("loading", f"rolling back to {previous.profile_id}")
        try:
            await self._host.load(previous)
        except Exception as exc:
            detail = f"{error}; rollback to {previous.profile_id} failed too: {exc!r}"[:500]
            log.error("command %s: %s", command.command_id, detail)
            self._state.profile_id = None
            await self._state.set_state("failed", detail)
            await self._report(command, "failed", detail, swap_s=took())
            return "failed"
        await self._intake.resume()
        await self._state.set_state("ready")
        await self._report(command, "rolled_back", error, swap_s=took())
        return "rolled_back"

    async def _report(
        self,
        command: ActivateProfile,
        phase: SwapPhase,
        detail: str,
        *,
        swap_s: float | None = None,
    ) -> None:
        await self._publish(command.command_id, command.profile.id, phase, detail, swap_s=swap_s)

    async def _publish(
        self,
        command_id: str,
        profile_id: str,
        phase: SwapPhase,
        detail: str,
        *,
        swap_s: float | None = None,
    ) -> None:
        status = SwapStatus(
            command_id=command_id,
            worker_id=self._worker_id,
            group=self._group,
            profile_id=profile_id,
            phase=phase,
            detail=detail,
            at=time.time(),
            swap_s=swap_s,
        )
        try:
            await self._statuses.report(status)
        except Exception as exc:  # the swap goes on; model-admin sees the heartbeats
            log.warning("swap status %s not published: %r", phase, exc)
