"""Usage records as CSV (RFC 4180, UTF-8, CRLF), produced page by page.

``csv_body`` is an async generator over metering's record pages: the api holds one page
at a time (``USAGE_CSV_PAGE_SIZE`` records), however many rows the download has.
Cells that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@`` first) get a
leading ``'``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator, Iterable

import msgspec

from chat_api.metering_client import Metering
from chat_api.usage.period import iso_utc
from contracts.usage import ListUsageRecords, UsageRecord, UsageRecordPage

log = logging.getLogger("chat_api.usage")

COLUMNS = (
    "request_id",
    "time",
    "user_id",
    "api_key_id",
    "model",
    "status",
    "error_code",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "ttft_ms",
    "latency_ms",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _row(record: UsageRecord) -> tuple[str | int, ...]:
    return (
        _text(record.request_id),
        iso_utc(record.started_at),
        _text(record.user_id),
        _text(record.api_key_id),
        _text(record.model),
        record.status,
        _text(record.error_code),
        record.input_tokens,
        record.output_tokens,
        record.input_tokens + record.output_tokens,
        _ms(record.ttft_ms),
        _ms(record.latency_ms),
    )


def csv_lines(rows: Iterable[Iterable[str | int]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode()


def csv_header() -> bytes:
    return csv_lines([COLUMNS])


async def csv_body(
    metering: Metering, request: ListUsageRecords, first: UsageRecordPage
) -> AsyncIterator[bytes]:
    """The header, then one chunk per page, asking for the next page only when the
    previous one was sent. A failure after the first byte aborts the response (the client
    sees an incomplete download, never a silently short file)."""
    yield csv_header()
    page = first
    pages = 1
    while True:
        if page.records:
            yield csv_lines(_row(record) for record in page.records)
        if page.next is None:
            return
        try:
            page = await metering.records(msgspec.structs.replace(request, after=page.next))
        except Exception:
            log.warning("usage CSV aborted after %d pages: metering did not answer", pages)
            raise
        pages += 1
