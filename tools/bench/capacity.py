"""`python -m bench.capacity` (make bench-capacity): how many streams one api process relays.

One api process in front of scripted workers (``WORKER_ENGINE=scripted``: a stand-in that
emits ``CAPACITY_TOKENS_PER_S`` tokens per second per stream, no model), with the rest of
the stack real (nats-server, persistence, metering, model-admin). Steps of
``CAPACITY_STEPS`` concurrent ``POST /api/chat`` streams (default 250 -> 4,000), each
held about ``CAPACITY_HOLD_S`` seconds; the client is ``bench.capacity_client`` in its
own process. Reported per step: streams completed, refused by admission (503 with
Retry-After), errors; the api's CPU per chunk; the api's resident memory at its highest;
the delay of sampled chunks from NATS to the client (p50 / p99); every process's CPU.
On two shared cores the client, the stand-in workers and nats-server take their part
of the CPU too: their shares are printed beside the api's.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

import httpx
import msgspec
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench import process_cpu
from bench.capacity_client import SAMPLE_SUBJECT, ClientPlan, ClientReport
from bench.config import dev_token, say
from bench.stats import percentile
from contracts import subjects
from contracts.bus import bus_inbox
from contracts.codec import decode_chunk
from contracts.permissions import API
from local_stack.launcher import Stack
from local_stack.ports import free_port
from local_stack.settings import StackSettings


class CapacityConfig(msgspec.Struct, frozen=True, kw_only=True):
    steps: tuple[int, ...]
    hold_s: float
    tokens_per_s: float
    workers: int
    ramp_per_s: float
    samples: int
    """Streams sampled for chunk delays per step (about)."""
    data_dir: Path
    out: Path


class StepResult(msgspec.Struct, kw_only=True):
    streams: int
    completed: int
    refused: int
    errors: dict[str, int]
    chunks: int
    chunks_per_s: float
    api_cpu_us_per_chunk: float | None
    api_cpu_share: float
    """The api's CPU seconds per second of the step (1.0 = one core)."""
    api_rss_mib_max: float
    loop_lag_ms_max: float
    """The api's ``llmchat_api_event_loop_lag_seconds`` at its highest (read each second):
    past ``API_MAX_LOOP_LAG_MS`` it refuses new chats."""
    delay_p50_ms: float | None
    delay_p99_ms: float | None
    delay_max_ms: float | None
    delay_samples: int
    cpu_s_by_part: dict[str, float]
    client_cpu_s: float
    wall_s: float


def load_config() -> CapacityConfig:
    env = os.environ
    data_dir = Path(env.get("DATA_DIR", ".data")).resolve()
    return CapacityConfig(
        steps=tuple(int(x) for x in env.get("CAPACITY_STEPS", "250,500,1000,2000,4000").split(",")),
        hold_s=float(env.get("CAPACITY_HOLD_S", "20")),
        tokens_per_s=float(env.get("CAPACITY_TOKENS_PER_S", "20")),
        workers=int(env.get("CAPACITY_WORKERS", "2")),
        ramp_per_s=float(env.get("CAPACITY_RAMP_PER_S", "400")),
        samples=int(env.get("CAPACITY_SAMPLES", "40")),
        data_dir=data_dir,
        out=Path(env.get("CAPACITY_OUT") or data_dir / "bench-capacity.json"),
    )


def stack_env(config: CapacityConfig) -> dict[str, str]:
    slots = math.ceil(max(config.steps) / config.workers) + 16
    unlimited = {
        f"{prefix}_{kind}": "0"
        for prefix in ("LIMIT_USER", "LIMIT_ADMIN", "LIMIT_USER_KEY", "LIMIT_ADMIN_KEY")
        for kind in ("RPM", "TPM", "CONCURRENT")
    }
    return {
        "WORKER_ENGINE": "scripted",
        "WORKER_SCRIPTED_TOKENS_PER_S": str(config.tokens_per_s),
        "WORKER_MAX_NUM_SEQS": str(slots),
        "LOG_LEVEL": "WARNING",
        # admission by load on unless the caller says otherwise (0: off)
        "API_MAX_LOOP_LAG_MS": os.environ.get("API_MAX_LOOP_LAG_MS", "50"),
        **unlimited,
    }


LAG_GAUGE = "llmchat_api_event_loop_lag_seconds "


async def loop_lag_ms(http: httpx.AsyncClient) -> float:
    """The api's event loop lag gauge (0 when /metrics does not answer in time)."""
    try:
        text = (await http.get("/metrics")).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(LAG_GAUGE):
            return float(line[len(LAG_GAUGE) :]) * 1000
    return 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ChunkTap:
    """Records when each chunk of the sampled requests left NATS (``time.time()``)."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self.departures: dict[str, dict[int, float]] = {}

    async def start(self) -> None:
        await self._nc.subscribe(SAMPLE_SUBJECT, cb=self._on_sample)

    async def _on_sample(self, msg: Msg) -> None:
        request_id = msg.data.decode()
        seen = self.departures.setdefault(request_id, {})

        async def on_chunk(chunk_msg: Msg) -> None:
            seen[decode_chunk(chunk_msg.data).seq] = time.time()

        await self._nc.subscribe(subjects.request_chunk_subjects(request_id), cb=on_chunk)


async def run_step(
    config: CapacityConfig, stack: Stack, token: str, tap: ChunkTap, streams: int
) -> StepResult:
    assert stack.api is not None
    assert stack.api.pid is not None
    api_pid = stack.api.pid
    tokens = max(1, round(config.tokens_per_s * config.hold_s))
    plan = ClientPlan(
        host=stack.settings.gateway_host,
        port=stack.settings.gateway_port,
        token=token,
        nats_url=stack.bus_url(API),
        streams=streams,
        tokens=tokens,
        ramp_per_s=config.ramp_per_s,
        sample_every=max(1, streams // config.samples),
    )
    tap.departures.clear()
    before = process_cpu.stack_cpu_by_part(stack)
    started = time.monotonic()
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.capacity_client",
        msgspec.json.encode(plan).decode(),
        stdout=asyncio.subprocess.PIPE,
    )
    rss_max = rss_mib(api_pid)
    lag_max = 0.0
    communicate = asyncio.ensure_future(client.communicate())
    async with httpx.AsyncClient(base_url=stack.settings.api_url, timeout=2.0) as http:
        while not communicate.done():
            await asyncio.wait({communicate}, timeout=1.0)
            rss_max = max(rss_max, rss_mib(api_pid))
            lag_max = max(lag_max, await loop_lag_ms(http))
    stdout, _ = communicate.result()
    wall = time.monotonic() - started
    if client.returncode != 0:
        raise SystemExit(f"the capacity client failed (exit {client.returncode})")
    report = msgspec.json.decode(stdout, type=ClientReport)
    after = process_cpu.stack_cpu_by_part(stack)
    cpu = {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
    delays = [
        (arrived - tap.departures[request_id][seq]) * 1000
        for request_id, arrivals in report.arrivals.items()
        for seq, arrived in arrivals.items()
        if seq in tap.departures.get(request_id, {})
    ]
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    api_cpu = cpu.get("api", 0.0)
    return StepResult(
        streams=streams,
        completed=report.completed,
        refused=report.refused,
        errors=report.errors,
        chunks=report.chunks,
        chunks_per_s=round(report.chunks / wall, 1),
        api_cpu_us_per_chunk=round(api_cpu * 1e6 / report.chunks, 1) if report.chunks else None,
        api_cpu_share=round(api_cpu / wall, 3),
        api_rss_mib_max=round(rss_max, 1),
        loop_lag_ms_max=round(lag_max, 1),
        delay_p50_ms=None if p50 is None else round(p50, 2),
        delay_p99_ms=None if p99 is None else round(p99, 2),
        delay_max_ms=round(max(delays), 2) if delays else None,
        delay_samples=len(delays),
        cpu_s_by_part=cpu,
        client_cpu_s=report.cpu_s,
        wall_s=round(wall, 1),
    )


def step_line(step: StepResult) -> str:
    errors = ", ".join(f"{kind} x{n}" for kind, n in sorted(step.errors.items())) or "none"
    return (
        f"{step.streams:>5} streams: completed {step.completed}, refused {step.refused}, "
        f"errors {errors}; {step.chunks_per_s} chunks/s; api {step.api_cpu_us_per_chunk} "
        f"us CPU per chunk ({step.api_cpu_share:.2f} of a core), RSS max "
        f"{step.api_rss_mib_max} MiB, loop lag max {step.loop_lag_ms_max} ms; "
        f"chunk delay p50 {step.delay_p50_ms} ms p99 "
        f"{step.delay_p99_ms} ms max {step.delay_max_ms} ms (n={step.delay_samples}); "
        f"CPU s {json.dumps(step.cpu_s_by_part)}, client {step.client_cpu_s}; {step.wall_s} s"
    )


async def run_steps(config: CapacityConfig, stack: Stack, token: str) -> list[StepResult]:
    url = stack.bus_url(API)
    nc = await nats.connect(url, inbox_prefix=bus_inbox(url))
    tap = ChunkTap(nc)
    await tap.start()
    results: list[StepResult] = []
    try:
        for streams in config.steps:
            say(f"capacity: {streams} streams")
            step = await run_step(config, stack, token, tap, streams)
            say(f"capacity: {step_line(step)}")
            results.append(step)
    finally:
        await nc.drain()
    return results


def main() -> int:
    config = load_config()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the api inherits it
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * max(config.steps))), hard))
    stack_dir = config.data_dir / "bench-capacity-stack"
    settings = StackSettings(
        data_dir=stack_dir,
        nats_url=None,
        gateway_port=free_port(),
        workers=config.workers,
        log_dir=stack_dir / "logs",
        extra_env=stack_env(config),
    )
    say(f"capacity: starting the stack with {config.workers} scripted workers")
    with Stack(settings) as stack:
        stack.wait_ready(say)
        results = asyncio.run(run_steps(config, stack, dev_token(stack_dir)))
    config.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "config": msgspec.to_builtins(config, enc_hook=str),
        "steps": msgspec.to_builtins(results),
    }
    config.out.write_bytes(msgspec.json.format(msgspec.json.encode(document)))
    print(
        "streams | completed refused errors | chunks/s "
        "| api us/chunk, cores, RSS MiB | delay p50 / p99 ms"
    )
    for step in results:
        print(
            f"{step.streams:>7} | {step.completed:>9} {step.refused:>7} "
            f"{sum(step.errors.values()):>6} | {step.chunks_per_s:>8} | "
            f"{step.api_cpu_us_per_chunk!s:>6} {step.api_cpu_share:>5} {step.api_rss_mib_max:>7} | "
            f"{step.delay_p50_ms} / {step.delay_p99_ms}"
        )
    say(f"wrote {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
