"""Shared fixtures, and the rule that a test says what it needs with a mark.

Marks (pyproject.toml): ``nats`` (a real nats-server), ``postgres`` (the PostgreSQL
service), ``redis`` (the Redis service), ``vllm`` (the real engine; minutes), ``browser``
(Chromium). A test that uses a fixture standing for one of them without its mark fails
at collection, so ``-m "not vllm and not browser"`` and the like select truthfully.

nats-servers: one for the whole session (``nats_server``, ``nats_url``, ``nats_client``);
a test that must not share it (it restarts the server, deletes a stream, needs a small
``max_payload`` or a durable consumer of its own) asks ``nats_servers.private(...)`` and
says why beside the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from local_stack.nats_server import NatsServer

NEEDS_MARK: dict[str, str] = {
    "nats_servers": "nats",
    "nats_server": "nats",
    "redis_url": "redis",
}
"""Fixture -> the mark a test using it (directly or through another fixture) must carry."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = sorted(
        f"{item.nodeid} uses {fixture} but is not marked {mark}"
        for item in items
        for fixture, mark in NEEDS_MARK.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(mark) is None
    )
    if unmarked:
        raise pytest.UsageError("tests must say what they need:\n" + "\n".join(unmarked))


class NatsServers:
    """Starts the session's nats-server and the private ones of tests that cannot share."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory

    @contextmanager
    def private(self, name: str, config: Path | None = None) -> Iterator[NatsServer]:
        with NatsServer(self._tmp.mktemp(name), config=config) as server:
            yield server


@pytest.fixture(scope="session")
def nats_servers(tmp_path_factory: pytest.TempPathFactory) -> NatsServers:
    return NatsServers(tmp_path_factory)


@pytest.fixture(scope="session")
def nats_server(nats_servers: NatsServers) -> Iterator[NatsServer]:
    with nats_servers.private("nats") as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.drain()
