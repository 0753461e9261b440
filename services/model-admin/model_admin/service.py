"""``ModelAdmin``: every operation the request-reply subjects expose. No NATS here.

It reaches the bus through small Protocols (``model_admin.bus`` implements them over
JetStream KV and publish): storing a desired state or the alias overrides, sending a
command, announcing a change. Refusals raise ``AdminError`` with a wire error code.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from contracts import subjects
from contracts.admin import (
    ActivateAccepted,
    ActivateProfile,
    ActivateRequest,
    ActivationOutcome,
    ActivationRefusal,
    AddProfile,
    AdminChange,
    AliasOverrides,
    CheckProfile,
    CheckResult,
    DesiredState,
    GetProfile,
    HardwareCheck,
    ListProfiles,
    ListWorkers,
    ModelState,
    ProfileDetail,
    ProfileList,
    ProfileSpec,
    ProfileSummary,
    ResolvedModel,
    ResolveModel,
    SetAlias,
    SwapReportList,
    SwapStatus,
    SwapStatusQuery,
    WorkerHardware,
    WorkerList,
)
from contracts.errors import ErrorCode
from contracts.workers import WorkerStatus
from model_admin.catalog import Catalog
from model_admin.errors import AdminError
from model_admin.fleet import Fleet
from model_admin.memory import Hardware, check_compatibility

log = logging.getLogger(__name__)


class DesiredStore(Protocol):
    async def put(self, state: DesiredState) -> None: ...


class AliasStore(Protocol):
    async def put(self, overrides: AliasOverrides) -> None: ...


class CommandBus(Protocol):
    async def send(self, command: ActivateProfile) -> None: ...


class ChangeSink(Protocol):
    async def publish(self, change: AdminChange) -> None: ...

    async def activation(self, outcome: ActivationOutcome) -> None: ...


def _hardware(h: WorkerHardware) -> Hardware:
    try:
        return Hardware(device=h.device, count=h.count, memory_gib=h.memory_gib)
    except ValueError as exc:
        raise AdminError(ErrorCode.INVALID_REQUEST, f"hardware: {exc}") from None


class ModelAdmin:
    def __init__(
        self,
        catalog: Catalog,
        fleet: Fleet,
        *,
        desired: DesiredStore,
        aliases: AliasStore,
        commands: CommandBus,
        changes: ChangeSink,
        default_group: str,
        drain_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.fleet = fleet
        self._desired = desired
        self._aliases = aliases
        self._commands = commands
        self._changes = changes
        self._default_group = default_group
        self._drain_timeout_s = drain_timeout_s
        self._clock = clock

    # --- profiles ----------------------------------------------------------------------
    async def list_profiles(self, request: ListProfiles) -> ProfileList:
        profiles = self.catalog.profiles()
        if not request.admin:
            profiles = [p for p in profiles if p.whitelisted]
        return ProfileList(profiles=[self._summary(p) for p in profiles])

    async def get_profile(self, request: GetProfile) -> ProfileDetail:
        profile = self.catalog.resolve(request.name)
        return ProfileDetail(summary=self._summary(profile), spec=profile)

    async def add_profile(self, request: AddProfile) -> ProfileDetail:
        profile = self.catalog.add(bytes(request.profile))
        log.info("profile %s added by %s", profile.id, request.added_by)
        return ProfileDetail(summary=self._summary(profile), spec=profile)

    def _effective_profile(self, status: WorkerStatus) -> str | None:
        """The profile a worker runs: what it says, else what its group name resolves to."""
        if status.profile_id is not None:
            return status.profile_id
        profile = self.catalog.registry.find(status.model)
        return profile.id if profile is not None else None

    def _summary(self, profile: ProfileSpec) -> ProfileSummary:
        now = self._clock()
        live = [s for s in self.fleet.live(now) if self._effective_profile(s) == profile.id]
        groups = {g for g, d in self.fleet.desired.items() if d.profile_id == profile.id}
        groups |= {s.model for s in live}
        return ProfileSummary(
            id=profile.id,
            display_name=profile.display_name,
            hf_model=profile.hf_model,
            aliases=self.catalog.names_of(profile.id),
            whitelisted=profile.whitelisted,
            source=self.catalog.source(profile.id),
            device=profile.engine.device,
            tensor_parallel_size=profile.engine.tensor_parallel_size,
            quantization=profile.engine.quantization,
            max_model_len=profile.engine.max_model_len,
            sampling=profile.sampling,
            state=_state(live),
            groups=sorted(groups),
            workers=len(live),
            ready_workers=sum(1 for s in live if s.state == "ready"),
        )

    # --- compatibility -----------------------------------------------------------------
    def _group(self, group: str | None) -> str:
        if group is not None:
            return group
        known = self.fleet.groups(self._clock())
        return known[0] if len(known) == 1 else self._default_group

    def _checks(
        self, profile: ProfileSpec, group: str, given: WorkerHardware | None, *, prefer_given: bool
    ) -> list[HardwareCheck]:
        """One check per distinct hardware of the group's live workers (or ``given``)."""
        by_hardware: dict[WorkerHardware, list[str]] = {}
        if not (prefer_given and given is not None):
            for status in self.fleet.live(self._clock(), group):
                if status.hardware is not None:
                    by_hardware.setdefault(status.hardware, []).append(status.worker_id)
        if not by_hardware and given is not None:
            by_hardware[given] = []
        if not by_hardware:
            raise AdminError(
                ErrorCode.HARDWARE_UNKNOWN,
                f"no live worker of group {group!r} reports its hardware; "
                "give the hardware (device, count, memory_gib) in the request",
            )
        return [
            HardwareCheck(
                hardware=hardware,
                worker_ids=sorted(ids),
                report=check_compatibility(profile, _hardware(hardware)),
            )
            for hardware, ids in by_hardware.items()
        ]

    async def check(self, request: CheckProfile) -> CheckResult:
        profile = self.catalog.resolve(request.profile)
        target = self._group(request.group)
        checks = self._checks(profile, target, request.hardware, prefer_given=True)
        fits = all(c.report.fits for c in checks)
        first = next((c for c in checks if not c.report.fits), checks[0])
        return CheckResult(
            profile_id=profile.id,
            group=request.group if request.hardware is not None else target,
            fits=fits,
            checks=checks,
            reason=first.report.reason,
        )

    # --- activate ----------------------------------------------------------------------
    async def activate(self, request: ActivateRequest) -> ActivateAccepted:
        """Check, set the desired state, send the command; the outcome, accepted or
        refused, is also announced (an operator who published the request with no reply
        inbox reads it there)."""
        try:
            accepted = await self._activate(request)
        except AdminError as exc:
            refused = ActivationRefusal(code=exc.code, message=exc.message)
            await self._announce_activation(
                ActivationOutcome(request=request, refused=refused, at=self._clock())
            )
            raise
        await self._announce_activation(
            ActivationOutcome(request=request, accepted=accepted, at=self._clock())
        )
        return accepted

    async def _activate(self, request: ActivateRequest) -> ActivateAccepted:
        profile = self.catalog.resolve(request.profile)
        group = self._group(request.group)
        checks = self._checks(profile, group, request.hardware, prefer_given=False)
        refused = [c for c in checks if not c.report.fits]
        if refused:
            c = refused[0]
            on = f"workers {', '.join(c.worker_ids)}" if c.worker_ids else "the given hardware"
            raise AdminError(
                ErrorCode.PROFILE_INCOMPATIBLE,
                f"profile {profile.id!r} does not fit group {group!r} ({on}): {c.report.reason}",
            )
        now = self._clock()
        command_id = request.command_id or uuid.uuid4().hex
        before = self.fleet.desired.get(group)
        previous = before.profile_id if before is not None else None
        if previous is None:
            running = {self._effective_profile(s) for s in self.fleet.live(now, group)}
            running.discard(None)
            previous = next(iter(running)) if len(running) == 1 else None
        if before is not None and before.command_id == command_id:  # a retry
            previous = before.previous_profile_id
        desired = DesiredState(
            group=group,
            profile_id=profile.id,
            command_id=command_id,
            set_at=now,
            set_by=request.issued_by,
            previous_profile_id=previous,
        )
        command = ActivateProfile(
            command_id=command_id,
            group=group,
            profile=profile,
            drain_timeout_s=request.drain_timeout_s or self._drain_timeout_s,
            issued_by=request.issued_by,
            at=now,
            previous_profile_id=previous,
            checks=checks,  # the workers act on this verdict; they have no estimate
        )
        await self._desired.put(desired)
        self.fleet.desired[group] = desired
        self.fleet.record_command(command)
        try:
            await self._commands.send(command)
        except Exception as exc:
            log.warning("command %s not sent: %r", command_id, exc)
            raise AdminError(
                ErrorCode.SERVICE_UNAVAILABLE,
                f"desired state set but the command was not sent ({exc!r}); retry with "
                f"command_id {command_id!r}",
            ) from None
        log.info(
            "activate %s on group %s (command %s, by %s, previous %s)",
            profile.id,
            group,
            command_id,
            request.issued_by,
            previous,
        )
        await self._announce(AdminChange(kind="desired", desired=desired, at=now))
        return ActivateAccepted(
            command_id=command_id,
            group=group,
            profile_id=profile.id,
            desired=desired,
            checks=checks,
            subject=subjects.command_subject(group),
        )

    async def on_command(self, command: ActivateProfile) -> None:
        """A command seen on the ADMIN stream: adopt one that did not come through
        ``activate`` (an operator's ``nats pub``) as the group's desired state."""
        self.fleet.record_command(command)
        current = self.fleet.desired.get(command.group)
        if current is not None and current.command_id == command.command_id:
            return
        desired = DesiredState(
            group=command.group,
            profile_id=command.profile.id,
            command_id=command.command_id,
            set_at=command.at,
            set_by=command.issued_by,
            previous_profile_id=current.profile_id if current else command.previous_profile_id,
        )
        if self.catalog.registry.find(command.profile.id) is None:
            log.warning(
                "command %s names profile %s, which is not in the catalog",
                command.command_id,
                command.profile.id,
            )
        await self._desired.put(desired)
        self.fleet.desired[command.group] = desired
        log.info(
            "command %s from %s: group %s -> %s",
            command.command_id,
            command.issued_by,
            command.group,
            command.profile.id,
        )
        await self._announce(AdminChange(kind="desired", desired=desired, at=self._clock()))

    async def on_swap_status(self, status: SwapStatus, *, live: bool = True) -> None:
        """Keep the latest status per command and worker; after ``rolled_back`` point the
        group's desired state back at the previous profile (if it still names this
        command). ``live`` False: a replayed status (no announcement, no revert)."""
        self.fleet.record_status(status)
        if not live:
            return
        log.info(
            "swap %s on %s: %s %s",
            status.command_id,
            status.worker_id,
            status.phase,
            status.detail,
        )
        await self._announce(AdminChange(kind="swap", swap=status, at=self._clock()))
        if status.phase != "rolled_back":
            return
        current = self.fleet.desired.get(status.group)
        if current is None or current.command_id != status.command_id or current.reverted:
            return
        if current.previous_profile_id is None:
            return
        reverted = DesiredState(
            group=current.group,
            profile_id=current.previous_profile_id,
            command_id=current.command_id,
            set_at=self._clock(),
            set_by="model-admin (rollback)",
            previous_profile_id=current.profile_id,
            reverted=True,
        )
        await self._desired.put(reverted)
        self.fleet.desired[current.group] = reverted
        await self._announce(AdminChange(kind="desired", desired=reverted, at=self._clock()))

    # --- names -------------------------------------------------------------------------
    async def resolve(self, request: ResolveModel) -> ResolvedModel:
        profile = self.catalog.resolve(request.name)
        now = self._clock()
        # Groups meant to serve the profile, and groups with no desired state whose live
        # workers run it (started with it): the one with the most ready workers wins. A
        # group swapping to another profile is not offered, though its workers still run it.
        desired = self.fleet.desired
        groups = sorted(
            {g for g, d in desired.items() if d.profile_id == profile.id}
            | {
                s.model
                for s in self.fleet.live(now)
                if s.model not in desired and self._effective_profile(s) == profile.id
            }
        )

        def ready(group: str) -> int:
            return sum(1 for s in self.fleet.live(now, group) if s.state == "ready")

        if groups:
            group = max(groups, key=ready)  # stable: max keeps the first of equals
            served = True
        else:
            group = subjects.subject_token(profile.id)
            served = False
        return ResolvedModel(
            name=request.name,
            profile_id=profile.id,
            group=group,
            served=served,
            whitelisted=profile.whitelisted,
            ready_workers=ready(group),
            sampling=profile.sampling,
            max_model_len=profile.engine.max_model_len,
        )

    async def set_alias(self, request: SetAlias) -> ResolvedModel:
        overrides = self.catalog.point_alias(request.alias, request.profile)
        stored = AliasOverrides(
            aliases=overrides, updated_at=self._clock(), updated_by=request.set_by
        )
        await self._aliases.put(stored)
        self.catalog.set_overrides(overrides)
        log.info("alias %s -> %s (by %s)", request.alias, request.profile, request.set_by)
        await self._announce(AdminChange(kind="aliases", aliases=stored, at=self._clock()))
        return await self.resolve(ResolveModel(name=request.alias))

    # --- workers and swaps -------------------------------------------------------------
    async def list_workers(self, request: ListWorkers) -> WorkerList:
        return WorkerList(
            workers=self.fleet.views(self._clock(), request.group, request.include_gone)
        )

    async def swap_status(self, request: SwapStatusQuery) -> SwapReportList:
        swaps = self.fleet.reports(request)
        if request.command_id is not None and not swaps:
            raise AdminError(ErrorCode.NOT_FOUND, f"no command {request.command_id!r} known")
        return SwapReportList(swaps=swaps)

    async def _announce(self, change: AdminChange) -> None:
        try:
            await self._changes.publish(change)
        except Exception as exc:  # the change feed is best effort
            log.debug("change not announced: %r", exc)

    async def _announce_activation(self, outcome: ActivationOutcome) -> None:
        if outcome.refused is not None:
            log.warning(
                "activate %s refused (%s): %s",
                outcome.request.profile,
                outcome.refused.code,
                outcome.refused.message,
            )
        try:
            await self._changes.activation(outcome)
        except Exception as exc:  # best effort, like the change feed
            log.debug("activation outcome not announced: %r", exc)


def _state(live: list[WorkerStatus]) -> ModelState:
    states = {s.state for s in live}
    if "ready" in states:
        return "ready"
    if states & {"loading", "starting"}:
        return "loading"
    if "draining" in states:
        return "draining"
    if "failed" in states:
        return "failed"
    return "offline"
