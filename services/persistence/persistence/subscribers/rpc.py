"""``on_<request>``: core NATS request-reply on every ``ACCOUNT_*`` / ``REFRESH_*`` /
``API_KEY_*`` / ``SETTINGS_*`` / ``CONV_*`` subject, queue group ``PERSISTENCE_QUEUE``.

One route per subject: decode the request Struct, call one domain function, reply
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))`` (``llmchat_bus.rpc``). A
malformed payload is ``invalid_request``; a database failure is ``service_unavailable``;
anything else is ``internal_error`` (logged). Each request runs in its own task (at most
``concurrency`` at once), so one slow request (argon2, a big conversation) does not hold up
the others on its subject.
"""

from __future__ import annotations

from typing import cast

from nats.aio.client import Client as NatsClient

from contracts import accounts as acc
from contracts import conversations as conv
from contracts import subjects
from contracts.errors import ErrorCode
from llmchat_bus import rpc
from llmchat_bus.rpc import OK as OK
from llmchat_bus.rpc import Route, RpcServer, ping_route, route
from llmchat_sql.database import UNAVAILABLE_ERRORS
from persistence.accounts import Accounts
from persistence.conversations import Conversations
from persistence.metrics import PersistenceMetrics
from persistence.tracing import PersistenceTracing


def routes(accounts: Accounts, conversations: Conversations) -> list[Route]:
    """Subject -> (request Struct, domain function). The reply's ``ok`` is what it returns."""
    a, c = accounts, conversations
    return [
        route(subjects.ACCOUNT_REGISTER, acc.RegisterUser, a.register),  # UserView
        route(subjects.ACCOUNT_AUTHENTICATE, acc.Authenticate, a.authenticate),  # UserView
        route(subjects.ACCOUNT_GET, acc.GetUser, a.get_user),  # UserView
        route(subjects.ACCOUNT_LIST, acc.ListUsers, a.list_users),  # UserList
        route(subjects.ACCOUNT_UPDATE, acc.UpdateUser, a.update_user),  # UserView
        route(subjects.REFRESH_ISSUE, acc.IssueRefresh, a.issue_refresh),  # RefreshIssued
        route(subjects.REFRESH_ROTATE, acc.RotateRefresh, a.rotate_refresh),  # RefreshRotated
        route(subjects.REFRESH_REVOKE, acc.RevokeRefresh, a.revoke_refresh),  # Ack
        route(subjects.API_KEY_CREATE, acc.CreateApiKey, a.create_api_key),  # ApiKeyCreated
        route(subjects.API_KEY_LIST, acc.ListApiKeys, a.list_api_keys),  # ApiKeyList
        route(subjects.API_KEY_REVOKE, acc.RevokeApiKey, a.revoke_api_key),  # Ack
        route(subjects.API_KEY_VERIFY, acc.VerifyApiKey, a.verify_api_key),  # ApiKeyOwner
        route(subjects.SETTINGS_GET, acc.GetSettings, a.get_settings),  # UserSettings
        route(subjects.SETTINGS_PUT, acc.PutSettings, a.put_settings),  # UserSettings
        route(subjects.CONV_CREATE, conv.CreateConversation, c.create),  # ConversationView
        route(subjects.CONV_LIST, conv.ListConversations, c.list),  # ConversationList
        route(subjects.CONV_GET, conv.GetConversation, c.get),  # ConversationDetail
        route(subjects.CONV_UPDATE, conv.UpdateConversation, c.update),  # ConversationView
        route(subjects.CONV_DELETE, conv.DeleteConversation, c.delete),  # Ack
    ]


def database_unavailable(error: BaseException) -> bool:
    # Every database error is an outage here: refusals the domain expects (a taken email)
    # are caught and turned into DomainError where they happen.
    return isinstance(error, UNAVAILABLE_ERRORS)


async def answer(route: Route, data: bytes) -> bytes:
    """The encoded ``Reply`` to one request. Never raises."""
    reply, _outcome = await answer_with_outcome(route, data)
    return reply


async def answer_with_outcome(route: Route, data: bytes) -> tuple[bytes, str]:
    """The encoded ``Reply`` and its outcome (``ok`` or the error code). Never raises."""
    return await rpc.answer_with_outcome(route, data, database_unavailable)


def rpc_server(
    nc: NatsClient,
    routes: list[Route],
    concurrency: int = 64,
    *,
    metrics: PersistenceMetrics | None = None,
    tracing: PersistenceTracing | None = None,
) -> RpcServer:
    def answered(subject: str, outcome: str, elapsed_s: float) -> None:
        assert metrics is not None
        metrics.rpc(subject, outcome, elapsed_s)
        if outcome == ErrorCode.SERVICE_UNAVAILABLE:
            metrics.db_error("rpc")

    return RpcServer(
        nc,
        routes,
        queue=subjects.PERSISTENCE_QUEUE,
        concurrency=concurrency,
        unavailable=database_unavailable,
        on_answered=answered if metrics is not None else None,
        tracing=tracing,
        metrics=metrics.registry if metrics is not None else None,
    )


def described() -> RpcServer:
    """The server as its AsyncAPI document describes it (``make asyncapi``): never
    connected and its routes never called, so the domain classes stand in for their
    objects (each reply's type is read from the method's annotations)."""
    stand_ins = cast(Accounts, Accounts), cast(Conversations, Conversations)
    return rpc_server(NatsClient(), [*routes(*stand_ins), ping_route(subjects.PERSISTENCE_PING)])
