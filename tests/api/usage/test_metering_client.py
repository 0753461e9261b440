"""``NatsMetering`` on a real nats-server: replies, error replies, silence and garbage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from chat_api.errors import ApiError
from chat_api.metering_client import NatsMetering
from contracts import subjects
from contracts.codec import encode
from contracts.errors import ErrorCode
from contracts.rpc import Reply, RpcError
from contracts.usage import ListUsageRecords, UsageCounts, UsageQuery, UsageSummary

pytestmark = pytest.mark.nats

QUERY = UsageQuery(start=0.0, end=1.0, user_id="u1")


@pytest.fixture
async def responder(nats_client: NatsClient) -> AsyncIterator[Callable[[bytes], None]]:
    """Answers every usage request with the bytes last set (none set: never answers)."""
    answer: list[bytes] = []

    async def on_request(msg: Msg) -> None:
        if answer:
            await msg.respond(answer[-1])

    subs = [
        await nats_client.subscribe(s, queue=subjects.METERING_QUEUE, cb=on_request)
        for s in (subjects.USAGE_SUMMARY, subjects.USAGE_RECORDS)
    ]
    await nats_client.flush()
    yield answer.append
    for sub in subs:
        await sub.unsubscribe()


async def test_ok_reply(nats_client: NatsClient, responder: Callable[[bytes], None]) -> None:
    summary = UsageSummary(totals=UsageCounts(requests=2))
    responder(encode(Reply[UsageSummary](ok=summary)))
    assert await NatsMetering(nats_client, 2.0).summary(QUERY) == summary


async def test_invalid_request_reply_is_400(
    nats_client: NatsClient, responder: Callable[[bytes], None]
) -> None:
    responder(encode(Reply[UsageSummary](error=RpcError(code="invalid_request", message="no"))))
    with pytest.raises(ApiError) as info:
        await NatsMetering(nats_client, 2.0).records(ListUsageRecords(start=0, end=1))
    assert (info.value.status_code, info.value.code) == (400, ErrorCode.INVALID_REQUEST)


@pytest.mark.parametrize(
    "reply",
    [
        encode(Reply[UsageSummary](error=RpcError(code="service_unavailable", message="db"))),
        b"garbage",
        encode(Reply[UsageSummary]()),
    ],
)
async def test_other_replies_are_503(
    nats_client: NatsClient, responder: Callable[[bytes], None], reply: bytes
) -> None:
    responder(reply)
    with pytest.raises(ApiError) as info:
        await NatsMetering(nats_client, 2.0).summary(QUERY)
    assert (info.value.status_code, info.value.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
    assert info.value.headers["Retry-After"]


async def test_silence_is_503(nats_client: NatsClient, responder: Callable[[bytes], None]) -> None:
    with pytest.raises(ApiError) as info:
        await NatsMetering(nats_client, 0.3).summary(QUERY)
    assert info.value.status_code == 503


async def test_no_metering_at_all_is_503(nats_client: NatsClient) -> None:
    with pytest.raises(ApiError) as info:
        await NatsMetering(nats_client, 2.0).summary(QUERY)
    assert info.value.status_code == 503
