"""The api's only way to the metering service: NATS request-reply with ``Reply[T]``.

``Metering`` is the Protocol the usage feature depends on (unit tests pass an in-memory
fake); ``NatsMetering`` implements it with ``nc.request``. A reply that does not come
within ``timeout_s`` (or no responder at all) is ``503 service_unavailable``; an
``invalid_request`` reply is a 400; any other error reply is a 503.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, TypeVar

import msgspec
from nats.aio.client import Client as NatsClient

from chat_api.errors import ApiError
from contracts import subjects
from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply
from contracts.usage import ListUsageRecords, UsageQuery, UsageRecordPage, UsageSummary

log = logging.getLogger("chat_api.metering")

T = TypeVar("T")
RETRY_AFTER_S = "5"


def metering_unavailable(message: str = "the metering service is unavailable; retry") -> ApiError:
    return ApiError(
        503, ErrorCode.SERVICE_UNAVAILABLE, message, headers={"Retry-After": RETRY_AFTER_S}
    )


class Metering(Protocol):
    async def summary(self, query: UsageQuery) -> UsageSummary: ...
    async def records(self, request: ListUsageRecords) -> UsageRecordPage: ...


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {
    UsageSummary: msgspec.json.Decoder(Reply[UsageSummary]),
    UsageRecordPage: msgspec.json.Decoder(Reply[UsageRecordPage]),
}


class NatsMetering:
    """``Metering`` over core NATS request-reply (queue group of the metering service)."""

    def __init__(self, nc: NatsClient, timeout_s: float = 10.0) -> None:
        self.nc = nc
        self.timeout_s = timeout_s

    async def _call(self, subject: str, request: msgspec.Struct, result_type: type[T]) -> T:
        try:
            msg = await self.nc.request(subject, encode(request), timeout=self.timeout_s)
        except Exception as exc:  # timeout, no responders, connection closed / draining
            log.warning("metering request on %s failed: %r", subject, exc)
            raise metering_unavailable() from exc
        try:
            reply: Reply[T] = _DECODERS[result_type].decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("bad metering reply on %s: %s", subject, exc)
            raise metering_unavailable("metering sent a reply the api cannot read") from exc
        if reply.error is not None:
            if reply.error.code == ErrorCode.INVALID_REQUEST:
                raise ApiError(400, ErrorCode.INVALID_REQUEST, reply.error.message)
            log.warning("metering answered %s: %s", reply.error.code, reply.error.message)
            raise metering_unavailable(f"metering failed: {reply.error.message}")
        if reply.ok is None:
            raise metering_unavailable("metering sent an empty reply")
        return reply.ok

    async def summary(self, query: UsageQuery) -> UsageSummary:
        return await self._call(subjects.USAGE_SUMMARY, query, UsageSummary)

    async def records(self, request: ListUsageRecords) -> UsageRecordPage:
        return await self._call(subjects.USAGE_RECORDS, request, UsageRecordPage)
