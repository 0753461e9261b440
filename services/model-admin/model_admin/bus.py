"""model-admin's writes to the bus: the Protocols of ``model_admin.service`` over NATS."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from contracts import subjects
from contracts.admin import (
    ActivateProfile,
    ActivationOutcome,
    AdminChange,
    AliasOverrides,
    DesiredState,
)
from contracts.codec import encode


class KvDesiredStore:
    """``DESIRED_STATE_BUCKET``: key ``subject_token(group)``."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def put(self, state: DesiredState) -> None:
        await self._kv.put(subjects.subject_token(state.group), encode(state))


class KvAliasStore:
    """``MODEL_ALIASES_BUCKET``: one key, ``ALIASES_KEY``, the whole override map."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def put(self, overrides: AliasOverrides) -> None:
        await self._kv.put(subjects.ALIASES_KEY, encode(overrides))


class JetStreamCommandBus:
    """``ActivateProfile`` on ``command_subject(group)``, de-duplicated by command id."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def send(self, command: ActivateProfile) -> None:
        await self._js.publish(
            subjects.command_subject(command.group),
            encode(command),
            headers={subjects.MSG_ID_HEADER: command.command_id},
        )


class CoreChangeSink:
    """``AdminChange`` on the core subject ``ADMIN_CHANGES``, ``ActivationOutcome`` on
    ``ADMIN_ACTIVATIONS`` (at most once)."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc

    async def publish(self, change: AdminChange) -> None:
        await self._nc.publish(subjects.ADMIN_CHANGES, encode(change))

    async def activation(self, outcome: ActivationOutcome) -> None:
        await self._nc.publish(subjects.ADMIN_ACTIVATIONS, encode(outcome))
