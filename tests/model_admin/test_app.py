"""model-admin against a real nats-server: profiles, dry run, activate, the operator's
``nats pub``, heartbeats in KV, gone workers, aliases, swap statuses."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError

from contracts import subjects
from contracts.admin import (
    ActivateAccepted,
    ActivateProfile,
    ActivateRequest,
    ActivationOutcome,
    AddProfile,
    AdminChange,
    CheckProfile,
    CheckResult,
    DesiredState,
    GetProfile,
    ListProfiles,
    ListWorkers,
    ProfileDetail,
    ProfileList,
    ResolvedModel,
    ResolveModel,
    SetAlias,
    SwapReportList,
    SwapStatus,
    SwapStatusQuery,
    WorkerList,
)
from contracts.codec import (
    decode_activate,
    decode_activation_outcome,
    decode_desired_state,
    decode_worker_status,
    encode,
)
from contracts.errors import ErrorCode
from model_admin.registry import load_profiles
from tests.model_admin.harness import (
    CPU_HOST,
    TWO_3090,
    beat,
    call,
    eventually,
    heartbeat,
    ok,
    refused,
    running,
    settings_for,
)
from tests.model_admin.profile_factory import profile_dict

pytestmark = pytest.mark.nats


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin(nats_url: str, nats_client: NatsClient, tmp_path: Path) -> AsyncIterator[Path]:
    async with running(settings_for(nats_url, tmp_path), nats_client):
        yield tmp_path


async def desired_of(nc: NatsClient, group: str) -> object:
    kv = await nc.jetstream().key_value(subjects.DESIRED_STATE_BUCKET)
    try:
        entry = await kv.get(subjects.subject_token(group))
    except KeyNotFoundError:
        return None
    assert entry.value is not None
    return decode_desired_state(entry.value)


async def test_users_see_whitelisted_profiles_admins_see_all(
    admin: Path, nats_client: NatsClient
) -> None:
    hidden = unique("hidden")
    await ok(
        nats_client,
        subjects.ADMIN_PROFILES_ADD,
        AddProfile(
            profile=msgspec.Raw(
                json.dumps(profile_dict(id=hidden, aliases=[], whitelisted=False)).encode()
            )
        ),
        ProfileDetail,
    )
    users = await ok(nats_client, subjects.ADMIN_PROFILES_LIST, ListProfiles(), ProfileList)
    everything = await ok(
        nats_client, subjects.ADMIN_PROFILES_LIST, ListProfiles(admin=True), ProfileList
    )
    assert len(everything.profiles) >= 11
    assert all(p.whitelisted for p in users.profiles)
    assert hidden in {p.id for p in everything.profiles}
    assert hidden not in {p.id for p in users.profiles}
    gemma = next(p for p in users.profiles if p.id == "gemma3-270m")
    assert "gemma-270m" in gemma.aliases
    assert gemma.sampling.max_tokens == 256
    assert gemma.source == "shipped"


async def test_get_by_alias_returns_the_full_spec(admin: Path, nats_client: NatsClient) -> None:
    detail = await ok(
        nats_client, subjects.ADMIN_PROFILES_GET, GetProfile(name="r1-14b"), ProfileDetail
    )
    assert detail.spec.id == "deepseek-r1-distill-qwen-14b"
    assert detail.spec.engine.tensor_parallel_size == 2
    error = await refused(nats_client, subjects.ADMIN_PROFILES_GET, GetProfile(name="nope"))
    assert error.code == ErrorCode.MODEL_NOT_FOUND


async def test_add_profile_refuses_invalid_and_survives_restart(
    nats_url: str, nats_client: NatsClient, tmp_path: Path
) -> None:
    new_id = unique("added")
    bad = profile_dict(id=new_id, aliases=[], engine__tensor_parallel_size=3)
    good = profile_dict(id=new_id, aliases=[f"{new_id}-alias"])
    settings = settings_for(nats_url, tmp_path)
    async with running(settings, nats_client):
        error = await refused(
            nats_client,
            subjects.ADMIN_PROFILES_ADD,
            AddProfile(profile=msgspec.Raw(json.dumps(bad).encode())),
        )
        assert error.code == ErrorCode.PROFILE_INVALID
        assert "tensor_parallel_size 3 is not a power of two" in error.message
        shipped = profile_dict(id="gemma3-270m", aliases=[])
        error = await refused(
            nats_client,
            subjects.ADMIN_PROFILES_ADD,
            AddProfile(profile=msgspec.Raw(json.dumps(shipped).encode())),
        )
        assert error.code == ErrorCode.PROFILE_READ_ONLY
        added = await ok(
            nats_client,
            subjects.ADMIN_PROFILES_ADD,
            AddProfile(profile=msgspec.Raw(json.dumps(good).encode())),
            ProfileDetail,
        )
        assert added.summary.source == "added"
    assert (settings.overlay_dir / f"{new_id}.json").is_file()
    async with running(settings, nats_client):
        again = await ok(
            nats_client,
            subjects.ADMIN_PROFILES_GET,
            GetProfile(name=f"{new_id}-alias"),
            ProfileDetail,
        )
        assert again.spec.id == new_id
        assert again.summary.source == "added"


async def test_dry_run_gives_the_numbers(admin: Path, nats_client: NatsClient) -> None:
    result = await ok(
        nats_client,
        subjects.ADMIN_PROFILES_CHECK,
        CheckProfile(profile="deepseek-r1-distill-qwen-14b", hardware=TWO_3090),
        CheckResult,
    )
    assert not result.fits
    assert "2x 24 GiB at 0.55 gives 26.4 GiB" in result.reason
    assert result.reason.startswith("needs ")
    fits = await ok(
        nats_client,
        subjects.ADMIN_PROFILES_CHECK,
        CheckProfile(profile="deepseek-r1-distill-qwen-14b-util90", hardware=TWO_3090),
        CheckResult,
    )
    assert fits.fits, fits.reason
    # against the hardware a group's live workers report
    group = unique("g")
    await beat(nats_client, heartbeat(unique("w"), group, hardware=CPU_HOST))

    async def checked() -> CheckResult | None:
        reply = await call(
            nats_client,
            subjects.ADMIN_PROFILES_CHECK,
            CheckProfile(profile="gemma3-270m", group=group),
            CheckResult,
        )
        return reply.ok

    live = await eventually(checked)
    assert live.fits
    assert live.reason.startswith("fits: ")


async def test_activate_sets_desired_state_and_sends_the_command(
    admin: Path, nats_client: NatsClient
) -> None:
    group, worker = unique("g"), unique("w")
    received: asyncio.Queue[Msg] = asyncio.Queue()
    # a plain core subscriber, as `nats sub model-admin.v1.commands.<group>` would be
    sub = await nats_client.subscribe(subjects.command_subject(group), cb=received.put)
    await beat(nats_client, heartbeat(worker, group, hardware=CPU_HOST))

    async def seen() -> bool:
        workers = await ok(
            nats_client, subjects.ADMIN_WORKERS_LIST, ListWorkers(group=group), WorkerList
        )
        return bool(workers.workers)

    await eventually(seen)
    accepted = await ok(
        nats_client,
        subjects.ADMIN_ACTIVATE,
        ActivateRequest(profile="gemma-270m", group=group, issued_by="test-admin"),
        ActivateAccepted,
    )
    assert accepted.profile_id == "gemma3-270m"
    assert accepted.checks[0].worker_ids == [worker]
    msg = await asyncio.wait_for(received.get(), 5)
    command = decode_activate(msg.data)
    assert command.command_id == accepted.command_id
    assert command.profile.engine.device == "cpu"
    assert command.issued_by == "test-admin"
    # the verdict travels with the command: the worker acts on it, it has no estimate
    assert command.checks == accepted.checks
    assert command.checks[0].report.fits
    assert command.checks[0].report.needed_bytes > 0
    assert msg.headers is not None
    assert msg.headers[subjects.MSG_ID_HEADER] == accepted.command_id
    desired = await desired_of(nats_client, group)
    assert desired == accepted.desired
    await sub.unsubscribe()


async def test_incompatible_profile_is_refused_before_anything_is_sent(
    admin: Path, nats_client: NatsClient
) -> None:
    group = unique("g")
    received: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await nats_client.subscribe(subjects.command_subject(group), cb=received.put)
    await beat(nats_client, heartbeat(unique("w"), group, hardware=TWO_3090))

    async def attempt() -> object:
        error = await refused(
            nats_client,
            subjects.ADMIN_ACTIVATE,
            ActivateRequest(profile="deepseek-r1-distill-qwen-14b", group=group),
        )
        return error if error.code != ErrorCode.HARDWARE_UNKNOWN else None

    error = await eventually(attempt)
    assert error.code == ErrorCode.PROFILE_INCOMPATIBLE
    assert "needs 3" in error.message
    assert "2x 24 GiB at 0.55 gives 26.4 GiB" in error.message
    await asyncio.sleep(0.3)
    assert received.empty()
    assert await desired_of(nats_client, group) is None
    # a group nobody reports hardware for
    error = await refused(
        nats_client,
        subjects.ADMIN_ACTIVATE,
        ActivateRequest(profile="gemma3-270m", group=unique("empty")),
    )
    assert error.code == ErrorCode.HARDWARE_UNKNOWN
    await sub.unsubscribe()


async def test_command_published_like_the_nats_cli_reaches_the_group_and_desired_state(
    admin: Path, nats_client: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    group = unique("g")
    received: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await nats_client.subscribe(subjects.command_subject(group), cb=received.put)
    spec = load_profiles().get("qwen2.5-7b-instruct")
    command_id = unique("cli")
    body = encode(
        ActivateProfile(
            command_id=command_id, group=group, profile=spec, issued_by="ops", at=time.time()
        )
    )
    # a malformed one first: terminated (logged), and it holds nothing up behind it
    await nats_client.publish(subjects.command_subject(group), b'{"command_id": 1}')
    # `nats pub model-admin.v1.commands.<group> "$BODY" -H Nats-Msg-Id:<command_id>`:
    # a core publish that the MODEL_ADMIN stream captures
    await nats_client.publish(
        subjects.command_subject(group), body, headers={subjects.MSG_ID_HEADER: command_id}
    )
    assert (await asyncio.wait_for(received.get(), 5)).data == b'{"command_id": 1}'
    msg = await asyncio.wait_for(received.get(), 5)
    assert decode_activate(msg.data).profile.id == "qwen2.5-7b-instruct"

    async def recorded() -> object:
        return await desired_of(nats_client, group)

    desired = await eventually(recorded)
    assert desired.profile_id == "qwen2.5-7b-instruct"  # type: ignore[attr-defined]
    assert desired.command_id == command_id  # type: ignore[attr-defined]
    # terminated, not handed back: it came once (a nak would bring it again at once)
    await asyncio.sleep(0.5)
    malformed = [
        r
        for r in caplog.records
        if r.name == "model_admin.subscribers.operator_commands"
        and subjects.command_subject(group) in r.getMessage()
    ]
    assert len(malformed) == 1
    await sub.unsubscribe()


async def test_activation_published_without_a_reply_inbox_is_answered_on_the_outcome_subject(
    admin: Path, nats_client: NatsClient
) -> None:
    """`nats sub model-admin.v1.activations` then `nats pub model-admin.v1.rpc.activate
    '{"profile": ..., "group": ...}'`: only the profile's name is given; model-admin fills
    in the spec and checks it as for the API."""
    outcomes: asyncio.Queue[Msg] = asyncio.Queue()
    watch = await nats_client.subscribe(subjects.ADMIN_ACTIVATIONS, cb=outcomes.put)
    group = unique("g")
    await beat(nats_client, heartbeat(unique("w"), group, hardware=TWO_3090))

    async def outcome_of(body: bytes) -> ActivationOutcome:
        await nats_client.publish(subjects.ADMIN_ACTIVATE, body)
        return decode_activation_outcome((await asyncio.wait_for(outcomes.get(), 5)).data)

    async def does_not_fit() -> ActivationOutcome | None:
        request = {"profile": "r1-14b", "group": group, "issued_by": "ops"}
        outcome = await outcome_of(json.dumps(request).encode())
        refused = outcome.refused
        return None if refused is None or refused.code == ErrorCode.HARDWARE_UNKNOWN else outcome

    refusal = await eventually(does_not_fit)
    assert refusal.accepted is None
    assert refusal.refused.code == ErrorCode.PROFILE_INCOMPATIBLE
    assert "2x 24 GiB at 0.55 gives 26.4 GiB" in refusal.refused.message
    assert refusal.request.issued_by == "ops"

    unknown = await outcome_of(b'{"profile": "no-such-profile"}')
    assert unknown.refused is not None
    assert unknown.refused.code == ErrorCode.MODEL_NOT_FOUND

    cpu_group = unique("g")
    await beat(nats_client, heartbeat(unique("w"), cpu_group, hardware=CPU_HOST))

    async def fits() -> ActivationOutcome | None:
        request = {"profile": "gemma-270m", "group": cpu_group}
        outcome = await outcome_of(json.dumps(request).encode())
        return outcome if outcome.accepted is not None else None

    accepted = await eventually(fits)
    assert accepted.refused is None
    assert accepted.accepted.profile_id == "gemma3-270m"
    assert await desired_of(nats_client, cpu_group) == accepted.accepted.desired
    await watch.unsubscribe()


async def test_heartbeats_are_mirrored_and_a_silent_worker_is_gone(
    admin: Path, nats_client: NatsClient
) -> None:
    group, worker = unique("g"), unique("w")
    changes: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await nats_client.subscribe(subjects.ADMIN_CHANGES, cb=changes.put)
    kv = await nats_client.jetstream().key_value(subjects.WORKER_STATUS_BUCKET)
    status = heartbeat(worker, group, interval_s=0.2, profile_id="gemma3-270m")
    await beat(nats_client, status)

    async def mirrored() -> object:
        try:
            entry = await kv.get(subjects.subject_token(worker))
        except KeyNotFoundError:
            return None
        assert entry.value is not None
        return decode_worker_status(entry.value)

    assert await eventually(mirrored) == status

    async def gone() -> bool:
        workers = await ok(
            nats_client, subjects.ADMIN_WORKERS_LIST, ListWorkers(group=group), WorkerList
        )
        return bool(workers.workers) and workers.workers[0].gone

    await eventually(gone, 5.0)
    decode = msgspec.json.Decoder(AdminChange).decode

    async def announced_gone() -> bool:
        while not changes.empty():
            change = decode((await changes.get()).data)
            worker_view = change.worker
            if (
                worker_view is not None
                and worker_view.status.worker_id == worker
                and worker_view.gone
            ):
                return True
        return False

    await eventually(announced_gone)
    # a worker that said "stopped" is not gone
    stopped = unique("w")
    await beat(nats_client, heartbeat(stopped, group, state="stopped", interval_s=0.1))
    await asyncio.sleep(0.6)
    workers = await ok(
        nats_client, subjects.ADMIN_WORKERS_LIST, ListWorkers(group=group), WorkerList
    )
    by_id = {w.status.worker_id: w for w in workers.workers}
    assert by_id[stopped].gone is False
    assert by_id[worker].gone is True
    await sub.unsubscribe()


async def test_alias_can_be_repointed_and_restored(admin: Path, nats_client: NatsClient) -> None:
    alias = unique("team-model")
    before = await refused(nats_client, subjects.ADMIN_ALIAS_RESOLVE, ResolveModel(name=alias))
    assert before.code == ErrorCode.MODEL_NOT_FOUND
    pointed = await ok(
        nats_client,
        subjects.ADMIN_ALIAS_SET,
        SetAlias(alias=alias, profile="qwen2.5-7b-instruct"),
        ResolvedModel,
    )
    assert pointed.profile_id == "qwen2.5-7b-instruct"
    repointed = await ok(
        nats_client,
        subjects.ADMIN_ALIAS_SET,
        SetAlias(alias=alias, profile="r1-14b"),
        ResolvedModel,
    )
    assert repointed.profile_id == "deepseek-r1-distill-qwen-14b"
    resolved = await ok(
        nats_client, subjects.ADMIN_ALIAS_RESOLVE, ResolveModel(name=alias), ResolvedModel
    )
    assert resolved.profile_id == "deepseek-r1-distill-qwen-14b"
    listed = await ok(
        nats_client, subjects.ADMIN_PROFILES_LIST, ListProfiles(admin=True), ProfileList
    )
    r1 = next(p for p in listed.profiles if p.id == "deepseek-r1-distill-qwen-14b")
    assert alias in r1.aliases
    # ids cannot be re-pointed
    error = await refused(
        nats_client, subjects.ADMIN_ALIAS_SET, SetAlias(alias="gemma3-270m", profile="r1-14b")
    )
    assert error.code == ErrorCode.PROFILE_READ_ONLY
    error = await refused(
        nats_client, subjects.ADMIN_ALIAS_SET, SetAlias(alias=alias, profile=None)
    )
    assert error.code == ErrorCode.MODEL_NOT_FOUND  # removed: the alias names nothing now


async def test_a_profile_resolves_to_the_group_whose_workers_serve_it(
    admin: Path, nats_client: NatsClient
) -> None:
    """A group meant for the profile with no worker (a desired state left behind) loses to
    a group whose ready worker was started with it; a group swapping to another profile is
    not offered, though its workers still run this one."""
    profile = "qwen2.5-7b-instruct"
    idle, serving, swapping = unique("g"), unique("g"), unique("g")
    kv = await nats_client.jetstream().key_value(subjects.DESIRED_STATE_BUCKET)
    for group, profile_id in ((idle, profile), (swapping, "gemma3-270m")):
        desired = DesiredState(
            group=group,
            profile_id=profile_id,
            command_id=unique("c"),
            set_at=time.time(),
            set_by="test",
        )
        await kv.put(subjects.subject_token(group), encode(desired))
    for group in (serving, swapping, swapping):
        await beat(nats_client, heartbeat(unique("w"), group, profile_id=profile))

    async def resolved_to_serving() -> ResolvedModel | None:
        found = await ok(
            nats_client, subjects.ADMIN_ALIAS_RESOLVE, ResolveModel(name=profile), ResolvedModel
        )
        return found if found.group == serving else None

    found = await eventually(resolved_to_serving)
    assert found.served is True
    assert found.ready_workers == 1


async def test_swap_status_is_kept_and_rollback_restores_the_desired_state(
    admin: Path, nats_client: NatsClient
) -> None:
    group, worker = unique("g"), unique("w")
    await beat(
        nats_client,
        heartbeat(worker, group, hardware=TWO_3090, profile_id="llama-3.1-8b-instruct"),
    )

    async def activate() -> ActivateAccepted | None:
        try:
            return await ok(
                nats_client,
                subjects.ADMIN_ACTIVATE,
                ActivateRequest(profile="qwen2.5-7b-instruct", group=group),
                ActivateAccepted,
            )
        except AssertionError:
            return None

    accepted = await eventually(activate)
    assert accepted.desired.previous_profile_id == "llama-3.1-8b-instruct"
    js = nats_client.jetstream()
    for phase in ("draining", "unloading", "loading", "rolled_back"):
        status = SwapStatus(
            command_id=accepted.command_id,
            worker_id=worker,
            group=group,
            profile_id="qwen2.5-7b-instruct",
            phase=phase,  # type: ignore[arg-type]
            detail="engine did not start" if phase == "rolled_back" else "",
            at=time.time(),
            swap_s=1.5 if phase == "rolled_back" else None,
        )
        await js.publish(subjects.swap_status_subject(worker), encode(status))

    async def final() -> SwapReportList | None:
        reports = await ok(
            nats_client,
            subjects.ADMIN_SWAPS_STATUS,
            SwapStatusQuery(command_id=accepted.command_id),
            SwapReportList,
        )
        done = reports.swaps and reports.swaps[0].workers[0].phase == "rolled_back"
        return reports if done else None

    reports = await eventually(final)
    assert reports.swaps[0].group == group

    async def reverted() -> object:
        desired = await desired_of(nats_client, group)
        return desired if getattr(desired, "reverted", False) else None

    desired = await eventually(reverted)
    assert desired.profile_id == "llama-3.1-8b-instruct"  # type: ignore[attr-defined]
