"""`python -m bench` (make bench): platform vs direct engine, side by side in one run.

Order: the direct engine runs in this process first and is shut down, then the
platform (nats-server, one worker with the same engine settings, the api) starts and
runs the same prompts. Only one engine is loaded at a time: two would share 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import msgspec

from bench import conversation_load, observability, platform_path
from bench.direct_path import DirectEngine
from bench.stats import LevelResult, summarize
from bench.workload import Message, long_context_chat, short_chat
from chat_api.auth.dev_token import DEV_USER_ID
from inference_worker.settings import load_settings as load_worker_settings
from stack.launcher import Stack
from stack.ports import free_port
from stack.settings import StackSettings

REQUESTS_PER_SLOT = 4
"""Each level runs max(8, 4 x concurrency) requests."""
LONG_CONTEXT_REQUESTS = 4


class BenchConfig(msgspec.Struct, frozen=True, kw_only=True):
    levels: tuple[int, ...]
    max_tokens: int
    out: Path
    data_dir: Path


def load_config() -> BenchConfig:
    data_dir = Path(os.environ.get("DATA_DIR", ".data")).resolve()
    levels = tuple(int(x) for x in os.environ.get("BENCH_LEVELS", "1,5,10").split(","))
    return BenchConfig(
        levels=levels,
        max_tokens=int(os.environ.get("BENCH_MAX_TOKENS", "64")),
        out=Path(os.environ.get("BENCH_OUT") or data_dir / "bench.json"),
        data_dir=data_dir,
    )


def workload(concurrency: int) -> list[list[Message]]:
    return [short_chat(i) for i in range(max(8, REQUESTS_PER_SLOT * concurrency))]


def long_workload(offset: int) -> list[list[Message]]:
    return [long_context_chat(offset + i) for i in range(LONG_CONTEXT_REQUESTS)]


def say(line: str) -> None:
    print(f"[bench] {line}", flush=True)


async def run_direct(config: BenchConfig) -> list[LevelResult]:
    engine = DirectEngine(load_worker_settings())
    say("direct: starting the engine in-process")
    await engine.start()
    results: list[LevelResult] = []
    try:
        await engine.run_level([short_chat(99)], 1, config.max_tokens)  # warm-up
        for level in config.levels:
            samples, wall = await engine.run_level(workload(level), level, config.max_tokens)
            results.append(report(summarize("direct", "chat", level, samples, wall)))
        samples, wall = await engine.run_level(long_workload(0), 1, config.max_tokens)
        results.append(report(summarize("direct", "ctx2k", 1, samples, wall)))
    finally:
        await engine.shutdown()
    return results


async def run_platform(config: BenchConfig, api_url: str, token: str) -> list[LevelResult]:
    results: list[LevelResult] = []
    await platform_path.run_level(api_url, token, [short_chat(99)], 1, config.max_tokens)
    for level in config.levels:
        samples, wall = await platform_path.run_level(
            api_url, token, workload(level), level, config.max_tokens
        )
        results.append(report(summarize("platform", "chat", level, samples, wall)))
    # Other report numbers than the direct run: the prefix cache of this engine is cold too.
    samples, wall = await platform_path.run_level(
        api_url, token, long_workload(100), 1, config.max_tokens
    )
    results.append(report(summarize("platform", "ctx2k", 1, samples, wall)))
    return results


def report(result: LevelResult) -> LevelResult:
    say(
        f"{result.path:8} {result.case:5} c={result.concurrency:<2} "
        f"ttft p50 {result.ttft_p50_ms} ms p95 {result.ttft_p95_ms} ms, "
        f"{result.tokens_per_s} tok/s, {result.requests_per_min} req/min, "
        f"errors {result.error_rate:.1%}"
    )
    return result


def table(results: list[LevelResult]) -> str:
    by_key = {(r.path, r.case, r.concurrency): r for r in results}
    lines = [
        f"{'case':6} {'conc':>4} | {'TTFT p50 ms':>23} | {'TTFT p95 ms':>23} | "
        f"{'tokens/s':>23} | {'req/min':>17} | errors",
        f"{'':6} {'':>4} | {'platform  direct  +ms':>23} | {'platform  direct  +ms':>23} | "
        f"{'platform  direct  ratio':>23} | {'platform  direct':>17} |",
    ]
    for case, conc in sorted({(r.case, r.concurrency) for r in results}):
        p, d = by_key.get(("platform", case, conc)), by_key.get(("direct", case, conc))
        if p is None or d is None:
            continue

        def diff(a: float | None, b: float | None) -> str:
            return "-" if a is None or b is None else f"{a - b:+.1f}"

        ratio = p.tokens_per_s / d.tokens_per_s if d.tokens_per_s else 0.0
        lines.append(
            f"{case:6} {conc:>4} | {p.ttft_p50_ms!s:>8} {d.ttft_p50_ms!s:>7} "
            f"{diff(p.ttft_p50_ms, d.ttft_p50_ms):>6} | {p.ttft_p95_ms!s:>8} "
            f"{d.ttft_p95_ms!s:>7} {diff(p.ttft_p95_ms, d.ttft_p95_ms):>6} | "
            f"{p.tokens_per_s:>8} {d.tokens_per_s:>7} {ratio:>6.3f} | "
            f"{p.requests_per_min:>8} {d.requests_per_min:>7} | "
            f"{p.error_rate:.1%} / {d.error_rate:.1%}"
        )
    return "\n".join(lines)


def dev_token(data_dir: Path) -> str:
    from chat_api.auth.dev_token import dev_token as make_token  # what `make token` prints
    from chat_api.settings import ApiSettings

    return make_token(ApiSettings.from_env({**os.environ, "DATA_DIR": str(data_dir)}))


def main() -> int:
    config = load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run_direct(config))
    stack_dir = config.data_dir / "bench-stack"
    settings = StackSettings(
        data_dir=stack_dir, nats_url=None, gateway_port=free_port(), log_dir=stack_dir / "logs"
    )
    say("platform: starting nats-server, worker and api")
    with Stack(settings) as stack:
        stack.wait_ready(say)
        token = dev_token(stack_dir)
        results += asyncio.run(run_platform(config, settings.api_url, token))
        say("conversation load: 1,000 stored messages through GET /api/conversations/{id}")
        load = asyncio.run(
            conversation_load.measure(settings.api_url, token, stack.nats_url, user_id=DEV_USER_ID)
        )
        say(
            f"conversation load: {load.messages} messages, p50 {load.p50_ms} ms, "
            f"p95 {load.p95_ms} ms, max {load.max_ms} ms over {load.requests} requests"
        )
    print(table(results))
    config.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "max_tokens": config.max_tokens,
        "levels": list(config.levels),
        "conversation_load": msgspec.to_builtins(load),
        "results": {
            path: {
                f"{r.case}_c{r.concurrency}"
                if r.case != "chat"
                else str(r.concurrency): msgspec.to_builtins(r)
                for r in results
                if r.path == path
            }
            for path in ("platform", "direct")
        },
    }
    if os.environ.get("BENCH_OBSERVABILITY") == "1":  # metrics + tracing + logs, on vs off
        comparison = observability.run_comparison(
            config.levels,
            config.max_tokens,
            config.data_dir / "bench-observability",
            dev_token,
            say,
            int(os.environ.get("BENCH_OBSERVABILITY_ROUNDS", "1")),
        )
        document["observability"] = msgspec.to_builtins(comparison)
        results += [r for phase in comparison.on + comparison.off for r in phase.levels]
    config.out.write_bytes(msgspec.json.format(msgspec.json.encode(document)))
    say(f"wrote {config.out}")
    failed = any(r.error_rate > 0 for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
