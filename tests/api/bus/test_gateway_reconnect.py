"""After NATS comes back, the gateway runs its reconnect hooks: the api drops what it
cached of other services, since announcements sent meanwhile were lost (real
nats-server, stopped and started again on the same port)."""

from __future__ import annotations

import asyncio

import pytest

from chat_api.auth import Authenticator
from chat_api.cache_invalidation import CacheInvalidation
from chat_api.gateway import NatsGateway
from chat_api.settings import ApiSettings
from chat_api.workers import WorkerRegistry
from contracts.accounts import UserView
from tests.conftest import NatsServers

pytestmark = pytest.mark.nats


async def test_reconnect_drops_cached_accounts(
    nats_servers: NatsServers, settings: ApiSettings
) -> None:
    # private: the test restarts it
    with nats_servers.private("nats-restarted") as server:
        gateway = await NatsGateway.connect(server.url, WorkerRegistry(3.0), timeout_s=10.0)
        authenticator = Authenticator(settings, persistence=None)
        authenticator.users.put(
            ("u1", "s1"),
            UserView(id="u1", email="u1@example.com", role="user", disabled=False, created_at=0),
        )
        invalidation = CacheInvalidation(authenticator, None, None)
        invalidation.start(gateway.announcements)
        reconnected = asyncio.Event()
        gateway.on_reconnect.append(invalidation.reconnected)
        gateway.on_reconnect.append(reconnected.set)

        await asyncio.to_thread(server.stop)
        server.start()
        await asyncio.wait_for(reconnected.wait(), 15.0)
        assert authenticator.users.get(("u1", "s1")) is None
        invalidation.stop()
        await gateway.close()
