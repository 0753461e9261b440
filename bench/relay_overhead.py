"""Measure the api relay (not a test; no timing asserts anywhere).

    python -m bench.relay_overhead [n_requests]   (PYTHONPATH as the Makefile sets it)

Starts a private nats-server and the api (``python -m chat_api``) as subprocesses; this
process runs the ``WireStandInWorker`` and the HTTP client. Reports:
- first-chunk latency: request sent -> first ``token`` SSE event read by the client, with
  the stand-in answering at once;
- relay overhead: a chunk's arrival on NATS (a second subscriber in this process) -> the
  same chunk's SSE frame read by the client. This includes loopback HTTP and client
  parsing, so it is an upper bound on the api's own added latency.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats
from nats.aio.msg import Msg

from chat_api.auth import issue_token
from contracts import codec, subjects
from stack.nats_server import NatsServer
from stack.ports import free_port, wait_for_port
from tests.api.wire_stand_in import WireStandInWorker

SECRET = "bench-secret-0123456789-0123456789-xyz"
MODEL = "bench-model"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def bench(base_url: str, nats_url: str, n: int) -> None:
    nc = await nats.connect(nats_url)
    worker = await WireStandInWorker(nc, MODEL, tokens=("a",) * 8).start()
    await asyncio.sleep(1.5)
    headers = {"Authorization": f"Bearer {issue_token(SECRET, 'bench')}"}
    body = {"messages": [{"role": "user", "content": "hi"}]}
    first: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        for i in range(n + 10):
            began = time.perf_counter()
            async with client.stream("POST", "/api/chat", json=body) as response:
                got = None
                async for line in response.aiter_lines():
                    if got is None and line == "event: token":
                        got = time.perf_counter() - began
            if i >= 10 and got is not None:
                first.append(got * 1000)
        print(
            f"first chunk via api (stand-in answers at once), n={len(first)}: "
            f"p50 {statistics.median(first):.2f} ms, p95 {pct(first, 0.95):.2f} ms"
        )

        worker.tokens = ("x",) * 20
        worker.token_delay_s = 0.01
        added: list[float] = []
        nats_seen: dict[str, dict[int, float]] = {}

        async def on_chunk(msg: Msg) -> None:
            chunk = codec.decode_chunk(msg.data)
            request_id = msg.subject.rsplit(".", 1)[1]
            nats_seen.setdefault(request_id, {})[chunk.seq] = time.perf_counter()

        sub = await nc.subscribe(subjects.CHUNK_SUBJECTS, cb=on_chunk)
        for _ in range(max(10, n // 10)):
            async with client.stream("POST", "/api/chat", json=body) as response:
                request_id = response.headers["x-request-id"]
                seq = None
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        seq = int(line[4:])
                    elif line.startswith("data: ") and seq is not None:
                        now = time.perf_counter()
                        at = nats_seen.get(request_id, {}).get(seq)
                        if at is not None:
                            added.append((now - at) * 1000)
                        seq = None
        await sub.unsubscribe()
        print(
            f"NATS chunk -> SSE frame at client, n={len(added)} chunks: "
            f"p50 {statistics.median(added):.3f} ms, p95 {pct(added, 0.95):.3f} ms"
        )
    await worker.stop()
    await nc.drain()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "nats") as server:
        port = free_port()
        env = {
            **os.environ,
            "NATS_URL": server.url,
            "GATEWAY_PORT": str(port),
            "JWT_SECRET": SECRET,
            "DEFAULT_MODEL": MODEL,
            "DATA_DIR": tmp,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(str(root / p) for p in (".", "services/api", "deploy")),
        }
        api = subprocess.Popen([sys.executable, "-m", "chat_api"], env=env)
        try:
            wait_for_port("127.0.0.1", port, 30)
            asyncio.run(bench(f"http://127.0.0.1:{port}", server.url, n))
        finally:
            api.terminate()
            api.wait(15)


if __name__ == "__main__":
    main()
