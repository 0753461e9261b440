"""The bus between hosts: nats-server with TLS and the users of ``contracts.permissions``;
a service joins with a ``tls://`` NATS_URL and trusts a private CA through
``SSL_CERT_FILE`` (what the README's "A locked bus" tells a multi-host deployment)."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import nats
import pytest
import trustme
from nats.aio.msg import Msg

from contracts import subjects
from contracts.bus import connect
from contracts.permissions import API, PERSISTENCE
from local_stack.bus_users import BusUsers
from local_stack.nats_server import NatsServer

pytestmark = pytest.mark.nats


def tls_server(directory: Path, ca: trustme.CA) -> tuple[NatsServer, BusUsers]:
    directory.mkdir(parents=True)
    users = BusUsers.load_or_create(directory)
    certificate = ca.issue_cert("127.0.0.1")
    certificate.private_key_pem.write_to_path(str(directory / "server.key"))
    certificate.cert_chain_pems[0].write_to_path(str(directory / "server.pem"))
    config = json.loads(users.server_config())
    config["tls"] = {
        "cert_file": str(directory / "server.pem"),
        "key_file": str(directory / "server.key"),
    }
    path = directory / "tls.conf"
    path.write_text(json.dumps(config))
    return NatsServer(directory, config=path), users


async def test_services_join_a_tls_bus_with_their_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server, users = tls_server(tmp_path / "nats", ca)
    stop = asyncio.Event()
    with server:
        tls_url = server.url.replace("nats://", "tls://")
        persistence = await connect(users.url(PERSISTENCE, tls_url), "persistence", stop, 10)
        api = await connect(users.url(API, tls_url), "api", stop, 10)
        assert persistence is not None
        assert api is not None
        try:

            async def answer(msg: Msg) -> None:
                await msg.respond(b"pong")

            await persistence.subscribe(subjects.PERSISTENCE_PING, cb=answer)
            await persistence.flush()
            reply = await api.request(subjects.PERSISTENCE_PING, b"ping", timeout=5)
            assert reply.data == b"pong"
            assert api.connected_url is not None
            assert api.connected_url.scheme == "tls"
        finally:
            stop.set()
            await api.close()
            await persistence.close()

        # A client that does not trust the CA refuses the server (nats-py turns to TLS
        # whenever the server asks for it).
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(ssl.SSLCertVerificationError):
            await nats.connect(
                users.url(API, tls_url), allow_reconnect=False, max_reconnect_attempts=0
            )
