"""``on_command``: model-admin's commands to this worker's group, and the desired state.

Every worker of a group must see every ``ActivateProfile``, so each has its OWN consumer
on ``command_subject(group)``: an ephemeral ordered push consumer from ``DeliverPolicy.NEW``
(nothing to clean up when the worker dies). What was commanded while the worker was down
is in the group's desired state (KV ``model_desired_state``), which the worker reads at
start (``desired_profile``). Commands are applied one at a time, in order, by one task,
once the first engine is ready; the subscription starts earlier so that a command sent
while the worker loads is not missed. ``check_with_model_admin`` asks model-admin whether
a profile fits this worker when no command brought the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import msgspec
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

from contracts import subjects
from contracts.admin import (
    ActivateProfile,
    CheckProfile,
    CheckResult,
    CompatibilityReport,
    DesiredState,
    GetProfile,
    HardwareCheck,
    ProfileDetail,
    ProfileSpec,
)
from contracts.codec import DecodeErrors, decode_activate, decode_desired_state
from contracts.workers import WorkerHardware
from llmchat_bus.broker import Replay, ServiceBroker, Subscription
from llmchat_bus.rpc_client import RpcClient, RpcNoAnswer, RpcRefused

log = logging.getLogger(__name__)

ApplyCommand = Callable[[ActivateProfile], Awaitable[object]]
RefuseCommand = Callable[[str, str, str], Awaitable[None]]
"""(command id, profile id, why): a command of this group whose profile does not validate."""
ADMIN_TIMEOUT_S = 3.0
"""How long the worker waits for model-admin's answer (``model_admin_client``)."""


class DesiredProfile(NamedTuple):
    profile: ProfileSpec
    checks: list[HardwareCheck]
    """model-admin's verdict, when the profile came with its command (else empty)."""


class _ProfileName(msgspec.Struct):
    id: str = ""


class _CommandHeader(msgspec.Struct):
    """What a command names even when its profile does not validate."""

    command_id: str
    group: str
    profile: _ProfileName = msgspec.field(default_factory=_ProfileName)


_decode_header = msgspec.json.Decoder(_CommandHeader).decode


class CommandSubscriber:
    def __init__(
        self,
        broker: ServiceBroker,
        *,
        group: str,
        apply: ApplyCommand,
        refuse: RefuseCommand | None = None,
    ) -> None:
        self._group = group
        self._apply = apply
        self._refuse = refuse
        self._queue: asyncio.Queue[ActivateProfile] = asyncio.Queue()
        self._subject = subjects.command_subject(group)
        self._commands = Subscription(
            broker,
            self._subject,
            payload=ActivateProfile,
            # Decoded here: an unreadable command may still name its id, to refuse it.
            decode=bytes,
            handle=self.on_command,
            malformed="",
            logger=log,
            description="The commands of the worker's group (its served model name), which "
            "every worker of the group reads from its own ordered consumer.",
            replay=Replay(subjects.ADMIN_STREAM, DeliverPolicy.NEW),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe (commands queue up until ``start_applying``)."""
        await self._commands.start()

    def start_applying(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._apply_loop(), name="apply-commands")

    async def stop(self) -> None:
        await self._commands.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def on_command(self, data: bytes) -> None:
        try:
            command = decode_activate(data)
        except DecodeErrors as exc:
            await self._refuse_unreadable(data, exc)
            return
        if subjects.subject_token(command.group) != subjects.subject_token(self._group):
            log.warning("command %s names group %s: ignored", command.command_id, command.group)
            return
        self._queue.put_nowait(command)

    async def _refuse_unreadable(self, data: bytes, error: Exception) -> None:
        """A command that names this group and its id but whose profile does not
        validate is refused on the status subject (model-admin sees why); anything else
        unreadable is only logged."""
        try:
            header = _decode_header(data)
        except DecodeErrors:
            header = None
        mine = header is not None and (
            subjects.subject_token(header.group) == subjects.subject_token(self._group)
        )
        if header is None or not mine or self._refuse is None:
            log.warning("malformed command on %s ignored: %s", self._subject, error)
            return
        name = header.profile.id or "?"
        await self._refuse(
            header.command_id, header.profile.id, f"profile {name} is invalid: {error}"
        )

    async def _apply_loop(self) -> None:
        while True:
            command = await self._queue.get()
            await self._apply(command)


async def desired_state(js: JetStreamContext, group: str) -> DesiredState | None:
    """The group's entry of ``model_desired_state`` (None: never set, or unreadable)."""
    try:
        kv = await js.key_value(subjects.DESIRED_STATE_BUCKET)
        entry = await kv.get(subjects.subject_token(group))
    except (BucketNotFoundError, KeyNotFoundError, NotFoundError):
        return None
    if not entry.value:
        return None
    try:
        return decode_desired_state(entry.value)
    except DecodeErrors as exc:
        log.warning("desired state of %s unreadable: %s", group, exc)
        return None


async def desired_profile(
    model_admin: RpcClient, js: JetStreamContext, group: str, desired: DesiredState
) -> DesiredProfile | None:
    """The full profile the desired state names: the group's last command if it is that
    profile's (a restarted worker needs no model-admin), else ``profiles.get``."""
    try:
        last = await js.get_last_msg(subjects.ADMIN_STREAM, subjects.command_subject(group))
        if last.data:
            command = decode_activate(last.data)
            if command.profile.id == desired.profile_id:
                return DesiredProfile(command.profile, command.checks)
    except NotFoundError:
        pass
    except Exception as exc:
        log.warning("last command of %s unreadable: %r", group, exc)
    try:
        detail = await model_admin.call(
            subjects.ADMIN_PROFILES_GET, GetProfile(name=desired.profile_id), ProfileDetail
        )
    except RpcNoAnswer:  # logged by the client
        return None
    except RpcRefused as exc:
        log.warning("profile %s refused by model-admin: %s", desired.profile_id, exc)
        return None
    return DesiredProfile(detail.spec, [])


async def check_with_model_admin(
    model_admin: RpcClient, profile: ProfileSpec, hardware: WorkerHardware
) -> CompatibilityReport | None:
    """model-admin's check (``profiles.check``) of its catalog's profile ``profile.id`` on
    ``hardware``; None when model-admin does not answer or does not know the profile."""
    request = CheckProfile(profile=profile.id, hardware=hardware)
    try:
        result = await model_admin.call(subjects.ADMIN_PROFILES_CHECK, request, CheckResult)
    except RpcNoAnswer:  # logged by the client
        return None
    except RpcRefused as exc:
        log.warning("compatibility of %s refused by model-admin: %s", profile.id, exc)
        return None
    if not result.checks:
        log.warning("model-admin checked no profile named %s", profile.id)
        return None
    return result.checks[0].report


def model_admin_client(nc: NatsClient, *, propagate_trace: bool = False) -> RpcClient:
    """The worker's requests to model-admin (a profile, a compatibility check)."""
    return RpcClient(nc, "model-admin", ADMIN_TIMEOUT_S, propagate_trace=propagate_trace)
