"""The service in-process over a real nats-server and real PostgreSQL / SQLite: request-
reply on every subject family, events end to end, outages of NATS consumers and of the
database, poison messages."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from contracts import subjects
from contracts.accounts import (
    ApiKeyCreated,
    ApiKeyOwner,
    Authenticate,
    CreateApiKey,
    GetSettings,
    IssueRefresh,
    PutSettings,
    RefreshIssued,
    RefreshRotated,
    RegisterUser,
    RotateRefresh,
    UserSettings,
    UserView,
    VerifyApiKey,
)
from contracts.conversations import (
    ConversationDetail,
    ConversationList,
    ConversationView,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    UpdateConversation,
)
from contracts.errors import ErrorCode
from contracts.events import ChatEvent
from contracts.rpc import Ack
from contracts.streams import ensure_streams
from tests.persistence import events_factory as ev
from tests.persistence.conftest import PG_HOST, PG_PORT, create_pg_database, drop_pg_database
from tests.persistence.conftest import pg_url as make_pg_url
from tests.persistence.harness import (
    call,
    publish,
    running,
    settings_for,
    wait_consumer_idle,
    wait_ready,
)
from tests.persistence.tcp_proxy import TcpProxy

pytestmark = pytest.mark.nats


@pytest.fixture
async def nc(persistence_nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(persistence_nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


async def new_conversation(nc: NatsClient) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user = await call(
        nc, subjects.ACCOUNT_REGISTER, RegisterUser(email=email, password="password1"), UserView
    )
    assert user.ok is not None, user.error
    conv = await call(
        nc, subjects.CONV_CREATE, CreateConversation(user_id=user.ok.id), ConversationView
    )
    assert conv.ok is not None, conv.error
    return user.ok.id, conv.ok.id


async def messages_of(nc: NatsClient, user: str, conv: str) -> ConversationDetail:
    reply = await call(
        nc,
        subjects.CONV_GET,
        GetConversation(user_id=user, conversation_id=conv),
        ConversationDetail,
    )
    assert reply.ok is not None, reply.error
    return reply.ok


async def test_rpc_round_trip(nc: NatsClient, persistence_nats_url: str, db_url: str) -> None:
    async with running(settings_for(persistence_nats_url, db_url), nc):
        reg = await call(
            nc,
            subjects.ACCOUNT_REGISTER,
            RegisterUser(email="Ann@Example.com", password="password1"),
            UserView,
        )
        assert reg.ok is not None
        assert reg.error is None
        uid = reg.ok.id
        dup = await call(
            nc,
            subjects.ACCOUNT_REGISTER,
            RegisterUser(email="ann@example.com", password="password1"),
            UserView,
        )
        assert dup.error is not None
        assert dup.error.code == ErrorCode.CONFLICT
        auth = await call(
            nc,
            subjects.ACCOUNT_AUTHENTICATE,
            Authenticate(email="ann@example.com", password="password1"),
            UserView,
        )
        assert auth.ok == reg.ok
        bad = await call(
            nc,
            subjects.ACCOUNT_AUTHENTICATE,
            Authenticate(email="ann@example.com", password="password2"),
            UserView,
        )
        assert bad.error is not None
        assert bad.error.code == ErrorCode.UNAUTHORIZED

        issued = await call(
            nc, subjects.REFRESH_ISSUE, IssueRefresh(user_id=uid, ttl_s=60), RefreshIssued
        )
        assert issued.ok is not None
        rotated = await call(
            nc,
            subjects.REFRESH_ROTATE,
            RotateRefresh(token=issued.ok.token, ttl_s=60),
            RefreshRotated,
        )
        assert rotated.ok is not None
        assert rotated.ok.user.id == uid
        key = await call(
            nc, subjects.API_KEY_CREATE, CreateApiKey(user_id=uid, name="ci"), ApiKeyCreated
        )
        assert key.ok is not None
        owner = await call(
            nc, subjects.API_KEY_VERIFY, VerifyApiKey(secret=key.ok.secret), ApiKeyOwner
        )
        assert owner.ok is not None
        assert owner.ok.user.id == uid
        wanted = UserSettings(system_prompt="Short answers.", temperature=0.3)
        put = await call(
            nc, subjects.SETTINGS_PUT, PutSettings(user_id=uid, settings=wanted), UserSettings
        )
        assert put.ok == wanted
        got = await call(nc, subjects.SETTINGS_GET, GetSettings(user_id=uid), UserSettings)
        assert got.ok == wanted

        conv = await call(
            nc, subjects.CONV_CREATE, CreateConversation(user_id=uid, title="t"), ConversationView
        )
        assert conv.ok is not None
        cid = conv.ok.id
        listing = await call(
            nc, subjects.CONV_LIST, ListConversations(user_id=uid), ConversationList
        )
        assert listing.ok is not None
        assert [c.id for c in listing.ok.items] == [cid]
        upd = await call(
            nc,
            subjects.CONV_UPDATE,
            UpdateConversation(user_id=uid, conversation_id=cid, title="new"),
            ConversationView,
        )
        assert upd.ok is not None
        assert upd.ok.title == "new"
        other = await call(
            nc,
            subjects.CONV_GET,
            GetConversation(user_id="dev-admin", conversation_id=cid),
            ConversationDetail,
        )
        assert other.error is not None
        assert other.error.code == ErrorCode.NOT_FOUND
        deleted = await call(
            nc, subjects.CONV_DELETE, DeleteConversation(user_id=uid, conversation_id=cid), Ack
        )
        assert deleted.ok == Ack()

        # Malformed payloads: invalid_request, and the service goes on answering.
        for subject, payload in [
            (subjects.ACCOUNT_REGISTER, b"not json"),
            (subjects.CONV_LIST, b'{"user_id": 5}'),
            (subjects.CONV_GET, b"{}"),
        ]:
            reply = await call(nc, subject, payload, UserView)
            assert reply.error is not None
            assert reply.error.code == ErrorCode.INVALID_REQUEST
        short = await call(
            nc,
            subjects.ACCOUNT_REGISTER,
            RegisterUser(email="x@example.com", password="1234567"),
            UserView,
        )
        assert short.error is not None
        assert short.error.code == ErrorCode.INVALID_REQUEST
        await wait_ready(nc, wait_s=2)


async def test_events_end_to_end_and_redelivery(
    nc: NatsClient, persistence_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    run = uuid.uuid4().hex[:8]  # request ids unique per run (JetStream de-duplicates ids)
    async with running(settings_for(persistence_nats_url, db_url), nc):
        user, conv = await new_conversation(nc)
        events: list[ChatEvent] = [
            ev.accepted(f"{run}-e2e-1", conv, user, "question"),
            ev.completed(f"{run}-e2e-1", conv, user, "answer"),
            ev.accepted(f"{run}-e2e-2", conv, user, "stop it"),
            ev.cancelled(f"{run}-e2e-2", conv, user, "partial"),
            ev.accepted(f"{run}-e2e-none", None, user),  # not a conversation chat: ignored
        ]
        for event in events:
            await publish(js, event)
        await wait_consumer_idle(js)
        # The same events again, as real duplicates in the stream (no Nats-Msg-Id).
        for event in events:
            await publish(js, event, dedup=False)
        await wait_consumer_idle(js)
        detail = await messages_of(nc, user, conv)
    assert [(m.role, m.content, m.status) for m in detail.messages] == [
        ("user", "question", "complete"),
        ("assistant", "answer", "complete"),
        ("user", "stop it", "complete"),
        ("assistant", "partial", "cancelled"),
    ]
    assert (detail.messages[1].token_in, detail.messages[1].token_out) == (7, 3)


async def test_events_published_while_persistence_is_down(
    nc: NatsClient, persistence_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    run = uuid.uuid4().hex[:8]  # request ids unique per run (JetStream de-duplicates ids)
    settings = settings_for(persistence_nats_url, db_url)
    async with running(settings, nc):
        user, conv = await new_conversation(nc)
    # Persistence is stopped: the events wait in the stream for its durable consumer.
    for i in range(25):
        await publish(js, ev.accepted(f"{run}-down-{i}", conv, user, f"q{i}"))
        await publish(js, ev.completed(f"{run}-down-{i}", conv, user, f"a{i}"))
    async with running(settings, nc):
        await wait_consumer_idle(js)
        detail = await messages_of(nc, user, conv)
    assert len(detail.messages) == 50
    assert len({(m.request_id, m.role) for m in detail.messages}) == 50


async def test_concurrent_requests_in_one_conversation(
    nc: NatsClient, persistence_nats_url: str, db_url: str
) -> None:
    js = nc.jetstream()
    run = uuid.uuid4().hex[:8]  # request ids unique per run (JetStream de-duplicates ids)
    async with running(settings_for(persistence_nats_url, db_url), nc):
        user, conv = await new_conversation(nc)
        await asyncio.gather(
            *(
                publish(js, e)
                for i in range(60)
                for e in (
                    ev.accepted(f"{run}-conc-{i}", conv, user),
                    ev.completed(f"{run}-conc-{i}", conv, user),
                )
            )
        )
        await wait_consumer_idle(js)
        detail = await messages_of(nc, user, conv)
    assert len(detail.messages) == 120


async def test_malformed_event_is_terminated_and_service_goes_on(
    nc: NatsClient, persistence_nats_url: str, tmp_path: object
) -> None:
    js = nc.jetstream()
    run = uuid.uuid4().hex[:8]  # request ids unique per run (JetStream de-duplicates ids)
    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    async with running(settings_for(persistence_nats_url, url), nc):
        await wait_consumer_idle(js)
        before = await js.consumer_info(
            subjects.EVENTS_STREAM, subjects.PERSISTENCE_EVENTS_CONSUMER
        )
        user, conv = await new_conversation(nc)
        await js.publish(subjects.EVENT_COMPLETED, b'{"type": "completed", "nonsense": 1}')
        await js.publish(subjects.EVENT_ACCEPTED, b"\xff not json")
        await publish(js, ev.accepted(f"{run}-after-poison", conv, user, "still here"))
        await wait_consumer_idle(js)
        detail = await messages_of(nc, user, conv)
        info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.PERSISTENCE_EVENTS_CONSUMER)
    assert [m.content for m in detail.messages] == ["still here"]
    assert info.num_redelivered == before.num_redelivered  # terminated, not redelivered
    assert info.delivered.consumer_seq - before.delivered.consumer_seq == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
async def test_database_down_then_up_loses_and_doubles_nothing(
    nc: NatsClient, persistence_nats_url: str
) -> None:
    """PostgreSQL behind a TCP proxy that the test takes down and up: first the service
    starts while the database is unreachable, then the database goes away mid-run."""
    js = nc.jetstream()
    run = uuid.uuid4().hex[:8]  # request ids unique per run (JetStream de-duplicates ids)
    name = await create_pg_database()
    proxy = TcpProxy(_free_port(), PG_HOST, PG_PORT)
    try:
        settings = settings_for(persistence_nats_url, make_pg_url(name, proxy.port))
        async with running(settings, nc, ready=False) as task:
            await asyncio.sleep(1.0)  # it is retrying the database meanwhile
            assert not task.done()
            await proxy.start()
            await wait_ready(nc)
            user, conv = await new_conversation(nc)
            for i in range(10):
                await publish(js, ev.accepted(f"{run}-pg-a-{i}", conv, user))
                await publish(js, ev.completed(f"{run}-pg-a-{i}", conv, user))
            await wait_consumer_idle(js)

            await proxy.stop()  # the database goes away, with every open connection
            down = await call(
                nc,
                subjects.CONV_GET,
                GetConversation(user_id=user, conversation_id=conv),
                ConversationDetail,
            )
            assert down.error is not None
            assert down.error.code == ErrorCode.SERVICE_UNAVAILABLE
            for i in range(10):
                await publish(js, ev.accepted(f"{run}-pg-b-{i}", conv, user))
                await publish(js, ev.completed(f"{run}-pg-b-{i}", conv, user))
            await asyncio.sleep(1.5)  # retrying with back-off; nothing acked meanwhile
            info = await js.consumer_info(
                subjects.EVENTS_STREAM, subjects.PERSISTENCE_EVENTS_CONSUMER
            )
            assert info.num_pending + info.num_ack_pending == 20
            await proxy.start()
            await wait_consumer_idle(js)
            detail = await messages_of(nc, user, conv)
    finally:
        await proxy.stop()
        await drop_pg_database(name)
    assert len(detail.messages) == 40
    assert len({(m.request_id, m.role) for m in detail.messages}) == 40
