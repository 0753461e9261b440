"""``DependencyProbe`` against a real nats-server: a service is ``ok`` only when it
answers its ``Ping`` with ``Ack``; silence, no responders or an error reply is
``unavailable``."""

from __future__ import annotations

import nats
import pytest
from nats.aio.msg import Msg

from chat_api.health.dependencies import DependencyProbe
from contracts import subjects
from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Ack, Reply, RpcError
from llmchat_bus.rpc import RpcServer, ping_route
from tests.conftest import NatsServers

pytestmark = pytest.mark.nats


async def test_states_follow_what_each_service_answers(nats_servers: NatsServers) -> None:
    # private: at first no service at all may answer on it
    with nats_servers.private("nats-no-services") as server:
        nc = await nats.connect(server.url)
        probe = DependencyProbe(nc, timeout_s=0.3)
        assert await probe.states() == {
            "persistence": "unavailable",
            "metering": "unavailable",
            "model_admin": "unavailable",
        }

        async def database_down() -> None:
            raise ConnectionRefusedError("db down")

        persistence = RpcServer(
            nc,
            [ping_route(subjects.PERSISTENCE_PING, database_down)],
            queue="persistence",
            concurrency=4,
            unavailable=lambda error: isinstance(error, ConnectionRefusedError),
        )
        admin = RpcServer(nc, [ping_route(subjects.ADMIN_PING)], queue="model-admin", concurrency=4)
        await persistence.start()
        await admin.start()

        async def refuse(msg: Msg) -> None:
            error = RpcError(code=ErrorCode.INTERNAL, message="boom")
            await msg.respond(encode(Reply[Ack](error=error)))

        await nc.subscribe(subjects.METERING_PING, cb=refuse)
        assert await probe.states() == {
            "persistence": "unavailable",  # answers, but its database does not
            "metering": "unavailable",
            "model_admin": "ok",
        }
        await persistence.stop(1.0)
        await admin.stop(1.0)
        await nc.close()
