"""Measure the api relay (not a test; no timing asserts anywhere).

    python -m bench.relay_overhead [n_requests]

Starts a private nats-server, the api (``python -m chat_api``) and two real inference
workers (``python -m inference_worker``) with the stand-in engine ``ScriptedEngine``
(``WORKER_ENGINE=scripted``) as subprocesses; this process runs the HTTP client. Reports:
- first-chunk latency: request sent -> first ``token`` SSE event read by the client,
  through the api and a worker whose scripted engine answers at once (model ``FAST``);
- relay overhead: a chunk's arrival on NATS (a second subscriber in this process) -> the
  same chunk's SSE frame read by the client, with tokens paced 10 ms apart (model
  ``PACED``). This includes loopback HTTP and client parsing, so it is an upper bound on
  the api's own added latency.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats
from nats.aio.msg import Msg

from chat_api.auth import issue_token
from contracts import codec, subjects
from local_stack.nats_server import NatsServer
from local_stack.ports import free_port, wait_for_port
from local_stack.processes import ManagedProcess

SECRET = "bench-secret-0123456789-0123456789-xyz"
FAST = "bench-fast"
"""Served by a worker whose scripted engine has no per-token delay to speak of."""
PACED = "bench-paced"
"""Served by a worker whose scripted engine emits 100 tokens/s (10 ms apart)."""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def worker(nats_url: str, model: str, tokens_per_s: float, log_dir: Path) -> ManagedProcess:
    env = {
        "NATS_URL": nats_url,
        "WORKER_ID": f"bench-{model}",
        "WORKER_MODEL": model,
        "WORKER_ENGINE": "scripted",
        "WORKER_SCRIPTED_TOKENS_PER_S": str(tokens_per_s),
        "WORKER_HEARTBEAT_S": "0.5",
        "WORKER_DRAIN_TIMEOUT_S": "5",
    }
    return ManagedProcess(f"worker-{model}", "inference_worker", env, log_dir / f"{model}.log")


async def wait_ready(client: httpx.AsyncClient, models: set[str], within_s: float = 60) -> None:
    """Until /readyz lists a ready worker for each of ``models``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        response = await client.get("/readyz")
        ready = {w["model"] for w in response.json().get("workers", []) if w["state"] == "ready"}
        if models <= ready:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"workers for {sorted(models)} never ready")


async def bench(base_url: str, nats_url: str, n: int) -> None:
    nc = await nats.connect(nats_url)
    headers = {"Authorization": f"Bearer {issue_token(SECRET, 'bench')}"}
    first: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        await wait_ready(client, {FAST, PACED})
        body = {"model": FAST, "messages": [{"role": "user", "content": "hi [[tokens=8]]"}]}
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
            f"first chunk via api + real worker (scripted engine answers at once), "
            f"n={len(first)}: p50 {statistics.median(first):.2f} ms, "
            f"p95 {pct(first, 0.95):.2f} ms"
        )

        body = {"model": PACED, "messages": [{"role": "user", "content": "hi [[tokens=20]]"}]}
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
    await nc.drain()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "nats") as server:
        port = free_port()
        api = ManagedProcess(
            "api",
            "chat_api",
            {
                "NATS_URL": server.url,
                "GATEWAY_PORT": str(port),
                "JWT_SECRET": SECRET,
                "DEFAULT_MODEL": FAST,
                "MODELS": f"{FAST},{PACED}",
                "DATA_DIR": tmp,
                "LOG_LEVEL": "WARNING",
            },
        )
        logs = Path(tmp) / "logs"
        workers = [worker(server.url, FAST, 1e6, logs), worker(server.url, PACED, 100, logs)]
        started: list[ManagedProcess] = []
        try:
            for process in (*workers, api):
                process.start()
                started.append(process)
            wait_for_port("127.0.0.1", port, 30)
            asyncio.run(bench(f"http://127.0.0.1:{port}", server.url, n))
        finally:
            for process in reversed(started):  # api first, then the workers drain
                process.stop(15)


if __name__ == "__main__":
    main()
