"""Whether the services the api relies on answer: one ``Ping`` request-reply each.

``/readyz`` reports them next to the workers. They do not decide its status: with
persistence down, chats of users the api has cached still work, and taking every api
instance out of the load balancer would turn a partial outage into a full one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.rpc import Ack, Ping
from llmchat_bus.rpc_client import RpcCallError, RpcClient

DEPENDENCIES_KEY = "dependencies"
"""Where the app state keeps the ``DependencyProbe`` (absent in unit apps)."""

PING_SUBJECTS = {
    "persistence": subjects.PERSISTENCE_PING,
    "metering": subjects.METERING_PING,
    "model_admin": subjects.ADMIN_PING,
}

DependencyState = Literal["ok", "unavailable"]


class DependencyProbe:
    def __init__(self, nc: NatsClient, timeout_s: float = 0.5) -> None:
        # A probe polled by load balancers: a service being down is its answer, not news
        # for the log (the callers that need the service say so themselves).
        self._clients = {
            name: RpcClient(nc, name, timeout_s, unreachable_log_level=logging.DEBUG)
            for name in PING_SUBJECTS
        }

    async def states(self) -> dict[str, DependencyState]:
        names = list(PING_SUBJECTS)
        answers = await asyncio.gather(*(self._ping(name) for name in names))
        return dict(zip(names, answers, strict=True))

    async def _ping(self, name: str) -> DependencyState:
        try:
            await self._clients[name].call(PING_SUBJECTS[name], Ping(), Ack)
        except RpcCallError:
            return "unavailable"
        return "ok"
