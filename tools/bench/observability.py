"""Observability on vs off: what metrics, tracing and logging cost the platform.

``BENCH_OBSERVABILITY=1 make bench`` (or ``python -m bench.observability`` for this part
alone) runs the platform phase twice more, each on a fresh stack (nats-server, persistence,
metering, one worker, the api) with the same prompts (greedy), and reports the throughput
ratio on / off. The issue's goal: metrics, tracing and logging together cost under 5 %
of platform throughput, i.e. a ratio of at least 0.95.

- **off**: ``API_METRICS_ENABLED=false``, no service metrics endpoints, no vLLM stat
  logger, ``OTEL_TRACES_EXPORTER=none``, ``LOG_FORMAT=text`` at ``LOG_LEVEL=WARNING``
  (quieter than before issue 4, so the comparison is, if anything, unfair to "on").
- **on**: every metrics endpoint, the engine's own statistics, scraped every
  ``SCRAPE_INTERVAL_S`` by this process as Prometheus would (more often than its 15 s
  default); every chat traced (the default parent-based always-on sampler) and exported
  with the OTLP/HTTP exporter to a local sink that accepts and drops the spans;
  ``LOG_FORMAT=json`` at ``INFO`` (the request log included).

Off runs first, then on; ``BENCH_OBSERVABILITY_ROUNDS`` (default 1) repeats the pair
and sums them, to average out a noisy machine. Besides throughput (completion tokens per
second of wall time over all levels) it reports the CPU the platform's processes used
(every process of each service's process group, the vLLM engine core included, and
nats-server) per completion token: on a busy machine that is the steadier number.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec

from bench import platform_path
from bench.config import dev_token, load_config, say
from bench.process_cpu import stack_cpu_s
from bench.stats import LevelResult, summarize
from bench.workload import Message, short_chat
from local_stack.launcher import Stack
from local_stack.ports import free_port
from local_stack.settings import StackSettings

GOAL_RATIO = 0.95
"""On / off throughput at or above this: observability costs under 5 %."""
SCRAPE_INTERVAL_S = 5.0
REQUESTS_PER_SLOT = 4
Progress = Callable[[str], None]


class PhaseResult(msgspec.Struct, kw_only=True):
    observability: str
    """``on`` or ``off``."""
    levels: list[LevelResult]
    completion_tokens: int
    requests: int
    wall_s: float
    tokens_per_s: float
    cpu_s: float
    """CPU seconds of every platform process while the levels ran."""
    cpu_ms_per_token: float
    spans_exported: int
    """OTLP export requests the sink received (0 when off)."""
    scrapes: int
    scrape_failures: int
    """Scrapes that failed (an endpoint that was not up): should be 0."""


class Comparison(msgspec.Struct, kw_only=True):
    throughput_ratio: float
    """Tokens per second on / off, over every level and round."""
    requests_per_min_ratio: float
    cpu_per_token_ratio: float
    """CPU per completion token on / off (above 1: observability costs CPU)."""
    per_level_throughput_ratio: dict[str, float]
    goal_ratio: float = GOAL_RATIO
    within_goal: bool
    on: list[PhaseResult]
    off: list[PhaseResult]


def chat_workload(concurrency: int) -> list[list[Message]]:
    """The platform phase's short chats at one level (as ``make bench`` runs them)."""
    return [short_chat(i) for i in range(max(8, REQUESTS_PER_SLOT * concurrency))]


def observability_env(on: bool, otlp_endpoint: str | None = None) -> dict[str, str]:
    """The environment of every service for one side of the comparison (on: a free port
    for each service's metrics endpoint)."""
    if not on:
        return {
            "API_METRICS_ENABLED": "false",
            "WORKER_METRICS_PORT": "0",
            "PERSISTENCE_METRICS_PORT": "0",
            "METERING_METRICS_PORT": "0",
            "OTEL_TRACES_EXPORTER": "none",
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "WARNING",
        }
    env = {
        "API_METRICS_ENABLED": "true",
        "WORKER_METRICS_PORT": str(free_port()),
        "PERSISTENCE_METRICS_PORT": str(free_port()),
        "METERING_METRICS_PORT": str(free_port()),
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    if otlp_endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
    return env


class OtlpSink:
    """A local OTLP/HTTP receiver that accepts every export and keeps nothing but a
    count: the exporters do all their work, nothing is stored."""

    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sink.bytes += len(self.rfile.read(length))
                sink.exports += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Scraper:
    """Scrapes the metrics endpoints every ``interval_s`` in a thread, as Prometheus would."""

    def __init__(self, urls: Iterable[str], interval_s: float = SCRAPE_INTERVAL_S) -> None:
        self.urls = list(urls)
        self.interval_s = interval_s
        self.scrapes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            for url in self.urls:
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        response.read()
                    self.scrapes += 1
                except OSError:
                    self.failures += 1
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def metrics_urls(api_url: str, env: dict[str, str]) -> list[str]:
    """The api's /metrics and the endpoint of every service ``env`` gives a port."""
    ports = sorted(v for k, v in env.items() if k.endswith("_METRICS_PORT") and v != "0")
    return [f"{api_url}/metrics", *(f"http://127.0.0.1:{port}/metrics" for port in ports)]


@contextmanager
def started_stack(data_dir: Path, env: dict[str, str], progress: Progress) -> Iterator[Stack]:
    settings = StackSettings(
        data_dir=data_dir,
        nats_url=None,
        gateway_port=free_port(),
        log_dir=data_dir / "logs",
        extra_env=env,
    )
    with Stack(settings) as stack:
        stack.wait_ready(progress)
        yield stack


async def warm_up(api_url: str, token: str, max_tokens: int) -> None:
    """A few chats first: one-time costs (imports on first use, caches) stay out of the
    measurement."""
    chats = [short_chat(90 + i) for i in range(4)]
    await platform_path.run_level(api_url, token, chats, 2, max_tokens)


async def run_levels(
    api_url: str, token: str, levels: Iterable[int], max_tokens: int
) -> list[LevelResult]:
    results: list[LevelResult] = []
    for level in levels:
        samples, wall = await platform_path.run_level(
            api_url, token, chat_workload(level), level, max_tokens
        )
        results.append(summarize("platform", "chat", level, samples, wall))
    return results


def run_phase(
    on: bool,
    levels: tuple[int, ...],
    max_tokens: int,
    data_dir: Path,
    token_for: Callable[[Path], str],
    progress: Progress,
) -> PhaseResult:
    label = "on" if on else "off"
    with OtlpSink() as sink:
        env = observability_env(on, sink.endpoint if on else None)
        with started_stack(data_dir, env, progress) as stack:
            token = token_for(data_dir)
            urls = metrics_urls(stack.settings.api_url, env) if on else []
            asyncio.run(warm_up(stack.settings.api_url, token, max_tokens))
            cpu_before = stack_cpu_s(stack)
            with Scraper(urls) as scraper:
                results = asyncio.run(run_levels(stack.settings.api_url, token, levels, max_tokens))
            cpu = stack_cpu_s(stack) - cpu_before
        exports = sink.exports  # the stack has stopped: its exporters have flushed
    tokens = sum(r.completion_tokens for r in results)
    wall = sum(r.wall_s for r in results)
    phase = PhaseResult(
        observability=label,
        levels=results,
        completion_tokens=tokens,
        requests=sum(r.requests for r in results),
        wall_s=round(wall, 3),
        tokens_per_s=round(tokens / wall, 2) if wall else 0.0,
        cpu_s=round(cpu, 2),
        cpu_ms_per_token=round(cpu * 1000 / tokens, 3) if tokens else 0.0,
        spans_exported=exports,
        scrapes=scraper.scrapes,
        scrape_failures=scraper.failures,
    )
    progress(
        f"observability {label}: {phase.tokens_per_s} tok/s over {phase.requests} chats, "
        f"{phase.cpu_ms_per_token} ms CPU per token, {exports} span exports, "
        f"{scraper.scrapes} scrapes ({scraper.failures} failed)"
    )
    return phase


def compare(on: list[PhaseResult], off: list[PhaseResult]) -> Comparison:
    def rate(phases: list[PhaseResult]) -> float:
        wall = sum(p.wall_s for p in phases)
        return sum(p.completion_tokens for p in phases) / wall if wall else 0.0

    def requests_per_min(phases: list[PhaseResult]) -> float:
        wall = sum(p.wall_s for p in phases)
        return sum(p.requests for p in phases) / wall * 60 if wall else 0.0

    def cpu_per_token(phases: list[PhaseResult]) -> float:
        tokens = sum(p.completion_tokens for p in phases)
        return sum(p.cpu_s for p in phases) / tokens if tokens else 0.0

    def level_rate(phases: list[PhaseResult], concurrency: int) -> float:
        chosen = [r for p in phases for r in p.levels if r.concurrency == concurrency]
        wall = sum(r.wall_s for r in chosen)
        return sum(r.completion_tokens for r in chosen) / wall if wall else 0.0

    def ratio(a: float, b: float) -> float:
        return round(a / b, 4) if b else 0.0

    throughput = ratio(rate(on), rate(off))
    levels = sorted({r.concurrency for p in on + off for r in p.levels})
    return Comparison(
        throughput_ratio=throughput,
        requests_per_min_ratio=ratio(requests_per_min(on), requests_per_min(off)),
        cpu_per_token_ratio=ratio(cpu_per_token(on), cpu_per_token(off)),
        per_level_throughput_ratio={
            str(c): ratio(level_rate(on, c), level_rate(off, c)) for c in levels
        },
        within_goal=throughput >= GOAL_RATIO,
        on=on,
        off=off,
    )


def run_comparison(
    levels: tuple[int, ...],
    max_tokens: int,
    data_dir: Path,
    token_for: Callable[[Path], str],
    progress: Progress,
    rounds: int = 1,
) -> Comparison:
    """Off then on, ``rounds`` times, each phase on a fresh stack under ``data_dir``."""
    on: list[PhaseResult] = []
    off: list[PhaseResult] = []
    for round_index in range(rounds):
        for enabled, phases in ((False, off), (True, on)):
            label = "on" if enabled else "off"
            progress(f"observability {label} (round {round_index + 1} of {rounds}): starting")
            phase_dir = data_dir / f"observability-{label}-{round_index + 1}"
            phases.append(run_phase(enabled, levels, max_tokens, phase_dir, token_for, progress))
    comparison = compare(on, off)
    progress(summary(comparison))
    return comparison


def summary(comparison: Comparison) -> str:
    verdict = "within" if comparison.within_goal else "NOT within"
    per_level = ", ".join(
        f"c={c}: {r:.3f}" for c, r in comparison.per_level_throughput_ratio.items()
    )
    return (
        f"observability on/off throughput {comparison.throughput_ratio:.3f} ({per_level}); "
        f"requests/min {comparison.requests_per_min_ratio:.3f}; CPU per token "
        f"{comparison.cpu_per_token_ratio:.3f}: {verdict} the goal (>= {GOAL_RATIO})"
    )


def main() -> int:
    """This comparison alone (``WORKER_ENGINE=scripted`` tries it without vLLM)."""
    config = load_config()
    rounds = int(os.environ.get("BENCH_OBSERVABILITY_ROUNDS", "1"))
    comparison = run_comparison(
        config.levels,
        config.max_tokens,
        config.data_dir / "bench-observability",
        dev_token,
        say,
        rounds,
    )
    out = config.out.with_name(f"{config.out.stem}-observability.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(msgspec.json.format(msgspec.json.encode(comparison)))
    say(f"wrote {out}")
    errors = any(r.error_rate > 0 for p in comparison.on + comparison.off for r in p.levels)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
