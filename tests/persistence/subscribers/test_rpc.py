"""``answer``: the reply to one request, whatever happens in the domain function."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy.exc import OperationalError

from contracts.accounts import GetUser, UserView
from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply
from llmchat_bus.rpc import Route
from persistence.errors import not_found
from persistence.subscribers.rpc import answer


def route(result: object) -> Route:
    async def handle(req: GetUser) -> UserView:
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, UserView)
        return result

    return Route("s", msgspec.json.Decoder(GetUser).decode, handle)


def decoded(data: bytes) -> Reply[UserView]:
    return msgspec.json.decode(data, type=Reply[UserView])


USER = UserView(id="u", email="u@x.io", role="user", disabled=False, created_at=1.0)


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (not_found("user"), ErrorCode.NOT_FOUND),
        (OperationalError("x", {}, OSError("down")), ErrorCode.SERVICE_UNAVAILABLE),
        (ConnectionRefusedError(), ErrorCode.SERVICE_UNAVAILABLE),
        (RuntimeError("bug"), ErrorCode.INTERNAL),
    ],
)
async def test_errors_become_error_replies(result: BaseException, code: ErrorCode) -> None:
    reply = decoded(await answer(route(result), encode(GetUser(user_id="u"))))
    assert reply.ok is None
    assert reply.error is not None
    assert reply.error.code == code


async def test_ok_and_malformed() -> None:
    assert decoded(await answer(route(USER), encode(GetUser(user_id="u")))).ok == USER
    for bad in (b"", b"[]", b'{"user_id": 1}', b"\x00"):
        reply = decoded(await answer(route(USER), bad))
        assert reply.error is not None
        assert reply.error.code == ErrorCode.INVALID_REQUEST
