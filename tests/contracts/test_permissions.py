"""The bus users' permissions (``contracts.permissions``): they allow what each service's
broker says it does (its AsyncAPI document), and a real nats-server configured from them
refuses every forbidden action for every user, anonymous clients included."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts import subjects
from contracts.bus import bus_inbox
from contracts.permissions import (
    API,
    IDENTITIES,
    METERING,
    MODEL_ADMIN,
    OPERATOR,
    PERMISSIONS,
    PERSISTENCE,
    WORKER,
    inbox_prefix,
)
from contracts.streams import ensure_streams
from local_stack.bus_users import BusUsers
from local_stack.nats_server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {
    "api.json": API,
    "inference_worker.json": WORKER,
    "persistence.json": PERSISTENCE,
    "metering.json": METERING,
    "model_admin.json": MODEL_ADMIN,
}
CONSUMER_READS = {
    (WORKER, "model-admin.v1.commands.GROUP"): subjects.ADMIN_STREAM,
    (MODEL_ADMIN, subjects.ADMIN_COMMAND_SUBJECTS): subjects.ADMIN_STREAM,
    (MODEL_ADMIN, subjects.ADMIN_STATUS_SUBJECTS): subjects.ADMIN_STREAM,
}
"""What a service's broker receives through a JetStream consumer (delivered to its inbox)
rather than a core subscription, and the stream it reads."""


def covers(pattern: str, subject: str) -> bool:
    """Whether the NATS ``pattern`` matches every subject ``subject`` (itself possibly
    with wildcards) stands for."""
    wanted = pattern.split(".")
    given = subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(given) > index
        if index >= len(given) or given[index] == ">":
            return False
        if token not in ("*", given[index]):
            return False
    return len(wanted) == len(given)


def allowed(patterns: tuple[str, ...], subject: str) -> bool:
    return any(covers(pattern, subject) for pattern in patterns)


def test_covers_follows_nats_wildcards() -> None:
    assert covers("a.>", "a.b.c")
    assert covers("a.*", "a.*")
    assert covers("a.*.c", "a.b.c")
    assert not covers("a.>", "a")
    assert not covers("a.*", "a.b.c")
    assert not covers("a.b", "a.*")
    assert not covers("a.*", "a.>")


def documented_operations() -> list[tuple[str, str, str]]:
    """(identity, action, subject) of every operation in the committed AsyncAPI documents
    (a test elsewhere keeps them equal to the brokers)."""
    operations = []
    for file, identity in DOCUMENTS.items():
        document = json.loads((ROOT / "docs" / "asyncapi" / file).read_text())
        channels = {unquote(name): channel for name, channel in document["channels"].items()}
        for operation in document["operations"].values():
            channel = channels[unquote(operation["channel"]["$ref"].rsplit("/", 1)[1])]
            operations.append((identity, operation["action"], channel["address"]))
    return operations


def may_consume(identity: str, stream: str) -> bool:
    """May fetch from some consumer of ``stream`` (and receive it in its inbox)."""
    permissions = PERMISSIONS[identity]
    return allowed(permissions.publish, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.any") or allowed(
        permissions.publish, f"$JS.API.CONSUMER.CREATE.{stream}"
    )


@pytest.mark.parametrize(
    ("identity", "action", "subject"),
    documented_operations(),
    ids=lambda value: str(value),
)
def test_each_service_may_do_what_its_broker_does(identity: str, action: str, subject: str) -> None:
    permissions = PERMISSIONS[identity]
    if action == "send":
        assert allowed(permissions.publish, subject), f"{identity} may not publish {subject}"
    else:
        stream = CONSUMER_READS.get((identity, subject))
        if stream is None:
            assert allowed(permissions.subscribe, subject), f"{identity} may not receive {subject}"
        else:
            assert may_consume(identity, stream), f"{identity} may not read {stream}"


def test_only_the_api_may_ask_for_a_users_data() -> None:
    acting_for_users = [
        subjects.CONV_GET,
        subjects.ACCOUNT_REGISTER,
        subjects.API_KEY_VERIFY,
        subjects.USAGE_SUMMARY,
    ]
    for identity in IDENTITIES:
        publish = PERMISSIONS[identity].publish
        may = [subject for subject in acting_for_users if allowed(publish, subject)]
        assert may == (acting_for_users if identity == API else []), identity


def test_each_user_reads_only_its_own_inbox() -> None:
    for identity in IDENTITIES:
        inboxes = [
            pattern for pattern in PERMISSIONS[identity].subscribe if pattern.startswith("_INBOX")
        ]
        assert inboxes == [f"{inbox_prefix(identity)}.>"]


# --- a real nats-server ---------------------------------------------------------------

Action = Callable[[NatsClient], Awaitable[None]]


async def read_a_conversation(nc: NatsClient) -> None:
    await nc.request(subjects.CONV_GET, b"{}", timeout=1)


async def register_an_admin(nc: NatsClient) -> None:
    await nc.request(subjects.ACCOUNT_REGISTER, b'{"role": "admin"}', timeout=1)


async def forge_a_completed_event(nc: NatsClient) -> None:
    await nc.jetstream().publish(subjects.EVENT_COMPLETED, b"{}", timeout=1)


async def publish_a_model_command(nc: NatsClient) -> None:
    await nc.jetstream().publish(subjects.command_subject("m"), b"{}", timeout=1)


async def read_the_apis_replies(nc: NatsClient) -> None:
    await nc.subscribe(f"{inbox_prefix(API)}.>")


async def read_every_reply(nc: NatsClient) -> None:
    await nc.subscribe("_INBOX.>")


async def read_the_chat_events(nc: NatsClient) -> None:
    await nc.jetstream().pull_subscribe(
        subjects.EVENT_SUBJECTS, durable="snoop", stream=subjects.EVENTS_STREAM
    )


QUEUED: dict[str, int] = {}
"""The sequence of a request the api queued for the next user's try (``queue_a_request``)."""


async def queue_a_request(api: NatsClient) -> None:
    ack = await api.jetstream().publish(subjects.request_subject("m"), b"{}")
    QUEUED["seq"] = ack.seq


async def withdraw_a_queued_request(nc: NatsClient) -> None:
    """What the api does to a chat cancelled while it waits in the queue."""
    await nc.jetstream(timeout=1).delete_msg(subjects.REQUESTS_STREAM, QUEUED["seq"])


async def delete_the_chat_events(nc: NatsClient) -> None:
    await nc.jetstream().delete_stream(subjects.EVENTS_STREAM)


async def change_the_chat_events_retention(nc: NatsClient) -> None:
    js = nc.jetstream()
    info = await js.stream_info(subjects.EVENTS_STREAM)
    config = info.config
    config.max_age = 3600.0  # from 30 days to an hour
    await js.update_stream(config)


ACTIONS: dict[str, tuple[Action, frozenset[str]]] = {
    "read a conversation": (read_a_conversation, frozenset({API})),
    "register an admin": (register_an_admin, frozenset({API})),
    "forge a completed event": (forge_a_completed_event, frozenset({API, WORKER})),
    "publish a model command": (publish_a_model_command, frozenset({MODEL_ADMIN, OPERATOR})),
    "read the api's replies": (read_the_apis_replies, frozenset({API})),
    "read replies under _INBOX": (read_every_reply, frozenset({OPERATOR})),
    "read the chat events": (read_the_chat_events, frozenset({OPERATOR})),
    "withdraw a queued request": (withdraw_a_queued_request, frozenset({API})),
    "delete the chat events": (delete_the_chat_events, frozenset()),
    "change the chat events' retention": (change_the_chat_events_retention, frozenset({API})),
}
"""Action -> the users who may do it (every other user is refused)."""


class Client:
    """A connection as one user that notes the permission errors the server sends."""

    def __init__(self, nc: NatsClient, violated: asyncio.Event) -> None:
        self.nc = nc
        self.violated = violated


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Client]:
    violated = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            violated.set()

    nc = await nats.connect(url, error_cb=on_error, inbox_prefix=bus_inbox(url))
    try:
        yield Client(nc, violated)
    finally:
        await nc.close()


async def attempt(client: Client, action: Action) -> str:
    """``refused`` (nats-server answered with a permission error), ``done``, or why not."""
    client.violated.clear()

    async def act() -> None:
        await action(client.nc)
        await client.nc.flush(timeout=2)
        # A refused subscription may be answered just after the flush's PONG.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.violated.wait(), 0.25)

    acting = asyncio.ensure_future(act())
    violation = asyncio.ensure_future(client.violated.wait())
    await asyncio.wait({acting, violation}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    for task in (acting, violation):
        task.cancel()
    await asyncio.gather(acting, violation, return_exceptions=True)
    if client.violated.is_set():
        return "refused"
    if acting.cancelled():
        return "timed out"
    error = acting.exception()
    return "done" if error is None else f"failed: {error!r}"


@pytest.fixture
def locked_server(tmp_path: Path) -> tuple[NatsServer, BusUsers]:
    users = BusUsers.load_or_create(tmp_path / "nats")
    config = users.write_server_config(tmp_path / "nats")
    return NatsServer(tmp_path / "nats", config=config), users


@pytest.mark.nats
async def test_a_locked_server_refuses_every_forbidden_action(
    locked_server: tuple[NatsServer, BusUsers],
) -> None:
    server, users = locked_server
    table: list[str] = []
    with server:
        async with connected(users.url(API, server.url)) as api:
            await ensure_streams(api.nc.jetstream(), identity=API)

            async def answer(msg: Msg) -> None:
                await msg.respond(b"{}")

            # persistence answers, as it does: what reaches it is served
            async with connected(users.url(PERSISTENCE, server.url)) as persistence:
                await persistence.nc.subscribe(subjects.CONV_GET, cb=answer)
                await persistence.nc.subscribe(subjects.ACCOUNT_REGISTER, cb=answer)
                await persistence.nc.flush()
                failures = []
                for identity in IDENTITIES:
                    await queue_a_request(api.nc)
                    async with connected(users.url(identity, server.url)) as client:
                        for name, (action, who_may) in ACTIONS.items():
                            outcome = await attempt(client, action)
                            table.append(f"{identity:12} {name:36} {outcome}")
                            if outcome != ("done" if identity in who_may else "refused"):
                                failures.append(table[-1])
        print("\n".join(table))
        assert failures == []
        async with connected(users.url(API, server.url)) as api:  # nobody could delete it
            await api.nc.jetstream().stream_info(subjects.EVENTS_STREAM)


@pytest.mark.nats
async def test_clients_without_the_users_credentials_are_refused(
    locked_server: tuple[NatsServer, BusUsers],
) -> None:
    server, users = locked_server
    with server:
        wrong = users.url(API, server.url).replace(users.passwords[API], "not-the-password")
        for url in (server.url, wrong):
            with pytest.raises(Exception, match="Authorization Violation"):
                await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)
