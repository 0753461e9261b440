"""The capacity client reads chunked SSE answers off raw sockets: what it counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.capacity_client import SAMPLE_SUBJECT, ClientPlan, _Client


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, payload: bytes) -> None:
        self.messages.append((subject, payload))


def chunked(*frames: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(f), f) for f in frames) + b"0\r\n\r\n"


ANSWER = chunked(
    b'event: start\ndata: {"request_id":"r-1","model":"m"}\n\n',
    b'id: 1\nevent: token\ndata: {"text":"a"}\n\n',
    b'id: 2\nevent: token\ndata: {"text":"b"}\n\n' + b'id: 3\nevent: token\ndata: {"text":"c"}\n\n',
    b'event: done\ndata: {"finish_reason":"stop","usage":null}\n\n',
)


async def serve(reply: bytes, split_at: int = 0) -> AsyncIterator[int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if split_at:  # a frame cut in two between reads
            writer.write(reply[:split_at])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(reply[split_at:])
        else:
            writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def plan(port: int) -> ClientPlan:
    return ClientPlan(
        host="127.0.0.1",
        port=port,
        token="t",
        nats_url="",
        streams=1,
        tokens=3,
        ramp_per_s=100.0,
        sample_every=1,
    )


@pytest.mark.parametrize("split_at", [0, 160])
async def test_a_sampled_answer_is_counted_and_its_frames_timed(split_at: int) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    published = Published()
    async for port in serve(head + ANSWER, split_at):
        client = _Client(plan(port), published)
        await client.stream(sampled=True)
    report = client.report
    assert (report.completed, report.chunks, report.errors) == (1, 3, {})
    assert sorted(report.arrivals["r-1"]) == [1, 2, 3]
    assert published.messages == [(SAMPLE_SUBJECT, b"r-1")]


async def test_a_503_with_retry_after_is_a_refusal_and_an_error_event_an_error() -> None:
    refused = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-length: 2\r\n\r\n{}"
    failed = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked(
        b'event: error\ndata: {"code":"timeout","message":"late"}\n\n'
    )
    published = Published()
    for reply in (refused, failed):
        async for port in serve(reply):
            client = _Client(plan(port), published)
            await client.stream(sampled=False)
            assert client.report.completed == 0
            if reply is refused:
                assert (client.report.refused, client.report.errors) == (1, {})
            else:
                assert (client.report.refused, client.report.errors) == (0, {"event timeout": 1})
    assert published.messages == []
