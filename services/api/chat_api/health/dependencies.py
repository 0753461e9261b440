"""Whether the services the api relies on answer: one ``Ping`` request-reply each.

``/readyz`` reports them next to the workers. They do not decide its status: with
persistence down, chats of users the api has cached still work, and taking every api
instance out of the load balancer would turn a partial outage into a full one.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.codec import encode
from contracts.rpc import Ack, Ping, Reply

DEPENDENCIES_KEY = "dependencies"
"""Where the app state keeps the ``DependencyProbe`` (absent in unit apps)."""

PING_SUBJECTS = {
    "persistence": subjects.PERSISTENCE_PING,
    "metering": subjects.METERING_PING,
    "model_admin": subjects.ADMIN_PING,
}

DependencyState = Literal["ok", "unavailable"]

_decode_reply = msgspec.json.Decoder(Reply[Ack]).decode
_PING = encode(Ping())


class DependencyProbe:
    def __init__(self, nc: NatsClient, timeout_s: float = 0.5) -> None:
        self._nc = nc
        self._timeout_s = timeout_s

    async def states(self) -> dict[str, DependencyState]:
        names = list(PING_SUBJECTS)
        answers = await asyncio.gather(*(self._ping(PING_SUBJECTS[name]) for name in names))
        return dict(zip(names, answers, strict=True))

    async def _ping(self, subject: str) -> DependencyState:
        try:
            msg = await self._nc.request(subject, _PING, timeout=self._timeout_s)
            reply = _decode_reply(msg.data)
        except Exception:  # timeout, no responders, closed connection, garbage
            return "unavailable"
        return "ok" if reply.ok is not None else "unavailable"
