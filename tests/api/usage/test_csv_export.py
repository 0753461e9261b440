"""``csv_body``: one page in hand at a time, asked for only when the previous one is sent;
a failure mid-way aborts the body instead of ending it short."""

from __future__ import annotations

import pytest

from chat_api.errors import ApiError
from chat_api.usage.csv_export import COLUMNS, csv_body
from contracts.usage import ListUsageRecords
from tests.api.usage.fake_metering import T0, FakeMetering, record


async def test_pages_are_fetched_lazily_one_chunk_per_page() -> None:
    metering = FakeMetering(records_list=[record(i) for i in range(25)])
    request = ListUsageRecords(start=T0, end=T0 + 86_400, limit=10)
    first = await metering.records(request)
    body = csv_body(metering, request, first)

    header = await anext(body)
    assert header.decode().strip() == ",".join(COLUMNS)
    chunk = await anext(body)
    assert chunk.count(b"\r\n") == 10
    assert len(metering.pages) == 1  # nothing beyond what was sent is held
    await anext(body)
    assert len(metering.pages) == 2
    last = await anext(body)
    assert last.count(b"\r\n") == 5
    assert len(metering.pages) == 3
    with pytest.raises(StopAsyncIteration):
        await anext(body)
    assert [p.after is None for p in metering.pages] == [True, False, False]


async def test_metering_failing_mid_way_raises_out_of_the_body() -> None:
    metering = FakeMetering(records_list=[record(i) for i in range(25)], fail_after_pages=2)
    request = ListUsageRecords(start=T0, end=T0 + 86_400, limit=10)
    body = csv_body(metering, request, await metering.records(request))
    chunks = [await anext(body), await anext(body), await anext(body)]
    assert len(chunks) == 3
    with pytest.raises(ApiError):
        await anext(body)
