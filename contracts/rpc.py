"""Request-reply envelope for service queries over NATS (core request / reply).

Every reply is a ``Reply[T]``: exactly one of ``ok`` and ``error`` is set. The caller
maps ``error.code`` (an ``ErrorCode`` value) to its own response; a reply that does not
arrive within the caller's timeout means the service is unavailable.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class RpcError(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str


class Reply(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    ok: T | None = None
    error: RpcError | None = None


class Ack(msgspec.Struct, frozen=True, kw_only=True):
    """The result of a command that returns nothing but success."""

    done: bool = True


class Ping(msgspec.Struct, frozen=True, kw_only=True):
    """Is the service there and able to work? ``Reply[Ack]``, or an error (e.g.
    ``service_unavailable`` while its database is down)."""
