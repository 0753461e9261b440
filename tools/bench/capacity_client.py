"""The capacity benchmark's client: N concurrent ``POST /api/chat`` streams from one process.

    python -m bench.capacity_client '<ClientPlan as JSON>'  ->  a ClientReport as JSON on stdout

Raw asyncio sockets and a byte scan instead of an HTTP library, so that thousands of
streams cost this process as little as possible (it shares the cores with what it
measures). Streams are opened at ``ramp_per_s``; each asks for an answer long enough to
last the step. A sampled stream tells the benchmark its request id on NATS
(``SAMPLE_SUBJECT``) as soon as its ``start`` event arrives, and records when each of
its token frames arrived; the benchmark, subscribed to those requests' chunk subjects,
records when each chunk left NATS: the difference is the chunk's delay.
"""

from __future__ import annotations

import asyncio
import re
import resource
import sys
import time
from typing import Protocol

import msgspec
import nats

from contracts.bus import bus_inbox

SAMPLE_SUBJECT = "bench.capacity.samples"
_TOKEN_ID = re.compile(rb"id: (\d+)\nevent: token\n")
_START = re.compile(rb"event: start\ndata: (\{[^\n]*\})\n")
_END = re.compile(rb"event: (done|error)\ndata: ([^\n]*)\n")
_RETRY_AFTER = re.compile(rb"\r\nretry-after: *(\d+)", re.IGNORECASE)


class SamplePublisher(Protocol):
    async def publish(self, subject: str, payload: bytes) -> None: ...


class ClientPlan(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    token: str
    nats_url: str
    streams: int
    tokens: int
    """Tokens each stream asks for (the scripted engine's ``[[tokens=N]]``)."""
    ramp_per_s: float
    sample_every: int
    """Every n-th stream is sampled for chunk delays."""


class ClientReport(msgspec.Struct, kw_only=True):
    completed: int = 0
    refused: int = 0
    """Answered 503 with Retry-After: the api's admission said no (not an error)."""
    errors: dict[str, int] = {}
    """What went wrong, by kind (``http 500``, an error event's code, ``closed early``)."""
    chunks: int = 0
    """Token frames received by every stream."""
    arrivals: dict[str, dict[int, float]] = {}
    """Sampled request id -> seq -> ``time.time()`` when its frame arrived."""
    cpu_s: float = 0.0
    wall_s: float = 0.0


class _Client:
    def __init__(self, plan: ClientPlan, samples: SamplePublisher) -> None:
        self.plan = plan
        self.report = ClientReport()
        self._samples = samples
        body = msgspec.json.encode(
            {
                "messages": [{"role": "user", "content": f"count [[tokens={plan.tokens}]]"}],
                "max_tokens": plan.tokens,
            }
        )
        self._request = (
            b"POST /api/chat HTTP/1.1\r\nHost: %b:%d\r\nAuthorization: Bearer %b\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%b"
        ) % (plan.host.encode(), plan.port, plan.token.encode(), len(body), body)

    def _error(self, kind: str) -> None:
        self.report.errors[kind] = self.report.errors.get(kind, 0) + 1

    async def stream(self, sampled: bool) -> None:
        try:
            reader, writer = await asyncio.open_connection(self.plan.host, self.plan.port)
        except OSError as exc:
            self._error(f"connect {type(exc).__name__}")
            return
        try:
            writer.write(self._request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                if status == 503 and _RETRY_AFTER.search(head):
                    self.report.refused += 1
                else:
                    self._error(f"http {status}")
                return
            await self._read_events(reader, sampled)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._error(f"read {type(exc).__name__}")
        finally:
            writer.close()

    async def _read_events(self, reader: asyncio.StreamReader, sampled: bool) -> None:
        report = self.report
        arrivals: dict[int, float] | None = None
        pending = b""
        while True:
            data = await reader.read(65536)
            if not data:
                self._error("closed early")
                return
            at = time.time()
            pending += data
            cut = pending.rfind(b"\n\n")
            if cut < 0:
                continue
            frames, pending = pending[: cut + 2], pending[cut + 2 :]
            seqs = _TOKEN_ID.findall(frames)
            report.chunks += len(seqs)
            if sampled:
                if arrivals is None and (start := _START.search(frames)) is not None:
                    request_id = msgspec.json.decode(start.group(1))["request_id"]
                    arrivals = report.arrivals.setdefault(request_id, {})
                    await self._samples.publish(SAMPLE_SUBJECT, request_id.encode())
                if arrivals is not None:
                    for seq in seqs:
                        arrivals[int(seq)] = at
            end = _END.search(frames)
            if end is not None:
                if end.group(1) == b"done":
                    report.completed += 1
                else:
                    code = msgspec.json.decode(end.group(2)).get("code", "error")
                    self._error(f"event {code}")
                return


async def run(plan: ClientPlan) -> ClientReport:
    samples = await nats.connect(plan.nats_url, inbox_prefix=bus_inbox(plan.nats_url))
    client = _Client(plan, samples)
    started = time.monotonic()
    cpu = time.process_time()
    tasks: list[asyncio.Task[None]] = []
    gap = 1.0 / plan.ramp_per_s
    for index in range(plan.streams):
        tasks.append(asyncio.create_task(client.stream(index % plan.sample_every == 0)))
        await asyncio.sleep(gap)
    await asyncio.gather(*tasks)
    await samples.drain()
    client.report.wall_s = round(time.monotonic() - started, 3)
    client.report.cpu_s = round(time.process_time() - cpu, 3)
    return client.report


def main() -> None:
    plan = msgspec.json.decode(sys.argv[1], type=ClientPlan)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, plan.streams + 256)), hard))
    report = asyncio.run(run(plan))
    sys.stdout.buffer.write(msgspec.json.encode(report))


if __name__ == "__main__":
    main()
