"""The api's only way to the metering service: NATS request-reply with ``Reply[T]``.

``Metering`` is the Protocol the usage feature depends on (unit tests pass an in-memory
fake); ``NatsMetering`` implements it over ``RpcClient`` (``chat_api.service_client``).
A reply that does not come within ``timeout_s`` (or no responder at all) is ``503
service_unavailable``; an ``invalid_request`` reply is a 400; any other error reply is a
503.
"""

from __future__ import annotations

from typing import Protocol

from chat_api.errors import ApiError
from chat_api.service_client import ServiceClient, ServiceErrors, service_unavailable
from contracts import subjects
from contracts.errors import ErrorCode
from contracts.usage import ListUsageRecords, UsageQuery, UsageRecordPage, UsageSummary

RETRY_AFTER_S = "5"


def metering_unavailable(message: str = "the metering service is unavailable; retry") -> ApiError:
    return service_unavailable(message, RETRY_AFTER_S)


METERING_ERRORS = ServiceErrors("metering", {ErrorCode.INVALID_REQUEST: 400}, metering_unavailable)


class Metering(Protocol):
    async def summary(self, query: UsageQuery) -> UsageSummary: ...
    async def records(self, request: ListUsageRecords) -> UsageRecordPage: ...


class NatsMetering(ServiceClient):
    """``Metering`` over core NATS request-reply (queue group of the metering service)."""

    errors = METERING_ERRORS

    async def summary(self, query: UsageQuery) -> UsageSummary:
        return await self.call(subjects.USAGE_SUMMARY, query, UsageSummary)

    async def records(self, request: ListUsageRecords) -> UsageRecordPage:
        return await self.call(subjects.USAGE_RECORDS, request, UsageRecordPage)
