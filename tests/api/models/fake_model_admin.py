"""``FakeModelAdmin``: the ``ModelAdmin`` Protocol in memory (unit tests without NATS)."""

from __future__ import annotations

import asyncio

import msgspec

from chat_api.errors import ApiError
from chat_api.model_admin_client import (
    STATUS_OF_ADMIN_CODE,
    FeedItem,
    ModelAdminUnavailable,
)
from contracts import subjects
from contracts.admin import (
    ActivateAccepted,
    ActivateRequest,
    AddProfile,
    CheckProfile,
    CheckResult,
    CompatibilityReport,
    DesiredState,
    HardwareCheck,
    ListProfiles,
    ListWorkers,
    MemoryBreakdown,
    ProfileDetail,
    ProfileList,
    ProfileSampling,
    ProfileSummary,
    ResolvedModel,
    ResolveModel,
    SetAlias,
    WorkerHardware,
    WorkerList,
)

CPU = WorkerHardware(device="cpu", count=1, memory_gib=16.0)


def summary(profile_id: str, aliases: list[str], *, ready: int = 1) -> ProfileSummary:
    return ProfileSummary(
        id=profile_id,
        display_name=profile_id.upper(),
        hf_model=f"org/{profile_id}",
        aliases=aliases,
        whitelisted=True,
        source="shipped",
        device="cpu",
        tensor_parallel_size=1,
        quantization="none",
        max_model_len=4096,
        sampling=ProfileSampling(temperature=0.5, top_p=0.9, max_tokens=128),
        state="ready" if ready else "offline",
        groups=[profile_id],
        workers=ready,
        ready_workers=ready,
    )


def report(fits: bool) -> CompatibilityReport:
    return CompatibilityReport(
        fits=fits,
        needed_gib=32.0,
        available_gib=26.4 if not fits else 40.0,
        breakdown=MemoryBreakdown(
            weights_gib=27.5,
            kv_cache_gib=1.5,
            overhead_gib=3.0,
            kv_per_token_kib=192.0,
            kv_all_sequences_gib=24.0,
            full_length_sequences=0,
        ),
        reason="needs 32.0 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB" if not fits else "fits",
    )


class FakeFeed:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[FeedItem] = asyncio.Queue()
        self.closed = False

    async def get(self) -> FeedItem:
        return await self.queue.get()

    async def close(self) -> None:
        self.closed = True


class FakeModelAdmin:
    """Profiles ``gemma3-270m`` (aliases ``default``, ``small``) and ``big`` (group
    ``big-group``); ``aliases`` maps extra names; ``down`` makes every call a 503;
    ``refuse`` makes the next admin call answer that error code."""

    def __init__(self) -> None:
        self.profiles = [summary("gemma3-270m", ["default", "small"]), summary("big", ["large"])]
        self.aliases: dict[str, str] = {
            "default": "gemma3-270m",
            "small": "gemma3-270m",
            "large": "big",
        }
        self.groups: dict[str, str] = {"gemma3-270m": "gemma3-270m", "big": "big-group"}
        self.hidden: set[str] = set()
        self.sampling: dict[str, ProfileSampling] = {}
        """Profile id -> its sampling defaults (else ``ProfileSampling()``)."""
        """Profile ids that are not whitelisted for users."""
        self.down = False
        self.refuse: tuple[str, str] | None = None
        self.calls: list[msgspec.Struct] = []
        self.feeds: list[FakeFeed] = []

    def _enter(self, request: msgspec.Struct) -> None:
        self.calls.append(request)
        if self.down:
            raise ModelAdminUnavailable()
        if self.refuse is not None:
            code, message = self.refuse
            status = STATUS_OF_ADMIN_CODE.get(code)
            if status is None:  # what NatsModelAdmin does with any other code
                raise ModelAdminUnavailable(f"model-admin failed: {message}")
            raise ApiError(status, code, message)

    async def list_profiles(self, request: ListProfiles) -> ProfileList:
        self._enter(request)
        return ProfileList(profiles=list(self.profiles))

    async def list_workers(self, request: ListWorkers) -> WorkerList:
        self._enter(request)
        return WorkerList(workers=[])

    async def check(self, request: CheckProfile) -> CheckResult:
        self._enter(request)
        fits = request.profile != "big"
        return CheckResult(
            profile_id=request.profile,
            group=request.group,
            fits=fits,
            checks=[HardwareCheck(hardware=request.hardware or CPU, report=report(fits))],
            reason=report(fits).reason,
        )

    async def activate(self, request: ActivateRequest) -> ActivateAccepted:
        self._enter(request)
        group = request.group or "gemma3-270m"
        desired = DesiredState(
            group=group, profile_id=request.profile, command_id="c1", set_at=1.0, set_by="x"
        )
        return ActivateAccepted(
            command_id="c1",
            group=group,
            profile_id=request.profile,
            desired=desired,
            checks=[],
            subject=subjects.command_subject(group),
        )

    async def add_profile(self, request: AddProfile) -> ProfileDetail:
        self._enter(request)
        raise ApiError(422, "profile_invalid", "not implemented in the fake")

    async def set_alias(self, request: SetAlias) -> ResolvedModel:
        self._enter(request)
        if request.profile is None:  # drops the override, as model-admin does; then resolves
            self.aliases.pop(request.alias, None)
        else:
            self.aliases[request.alias] = request.profile
        return await self.resolve(ResolveModel(name=request.alias))

    async def resolve(self, request: ResolveModel) -> ResolvedModel:
        self._enter(request)
        profile_id = self.aliases.get(request.name, request.name)
        if profile_id not in self.groups:
            raise ApiError(404, "model_not_found", f"no profile or alias {request.name!r}")
        return ResolvedModel(
            name=request.name,
            profile_id=profile_id,
            group=self.groups[profile_id],
            served=True,
            ready_workers=1,
            sampling=self.sampling.get(profile_id, ProfileSampling()),
            max_model_len=4096,
            whitelisted=profile_id not in self.hidden,
        )

    async def changes(self) -> FakeFeed:
        if self.down:
            raise ModelAdminUnavailable()
        feed = FakeFeed()
        self.feeds.append(feed)
        return feed
