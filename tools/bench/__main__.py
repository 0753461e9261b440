"""`python -m bench` (make bench): platform vs direct engine, side by side in one run.

Each round runs both paths with the same prompts: the direct engine in this process
(then shut down), and the platform (nats-server, persistence, metering, model-admin, one
worker with the same engine settings, the api). Only one engine is loaded at a time: two
would share 2 cores. Rounds alternate the order (direct first, then platform first, ...)
so that a machine getting slower or faster during the run does not favour one path, and
the report pools the samples of all rounds: on a noisy 2-core box one round's p50 moves
by 10-20 ms from run to run, more than the effect being measured.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import msgspec

from bench import conversation_load, observability, platform_path, process_cpu
from bench.config import BenchConfig, dev_token, load_config, platform_stack_settings, say
from bench.direct_path import DirectEngine
from bench.stats import LevelResult, LevelRun, Sample, pooled, table
from bench.workload import Message, long_context_chat, short_chat
from chat_api.auth.dev_token import DEV_USER_ID
from contracts.permissions import WORKER
from inference_worker.settings import load_settings as load_worker_settings
from local_stack.launcher import Stack

REQUESTS_PER_SLOT = 4
"""Each level runs max(8, 4 x concurrency) requests per round."""
LONG_CONTEXT_REQUESTS = 4


def workload(concurrency: int) -> list[list[Message]]:
    return [short_chat(i) for i in range(max(8, REQUESTS_PER_SLOT * concurrency))]


def long_workload(offset: int) -> list[list[Message]]:
    return [long_context_chat(offset + i) for i in range(LONG_CONTEXT_REQUESTS)]


def level_run(
    path: str, case: str, concurrency: int, samples: list[Sample], wall: float
) -> LevelRun:
    run = LevelRun(path=path, case=case, concurrency=concurrency, samples=samples, wall_s=wall)
    report(run.summary())
    return run


async def run_direct(config: BenchConfig) -> list[LevelRun]:
    engine = DirectEngine(load_worker_settings())
    say("direct: starting the engine in-process")
    await engine.start()
    runs: list[LevelRun] = []
    try:
        await engine.run_level([short_chat(99)], 1, config.max_tokens)  # warm-up
        for level in config.levels:
            samples, wall = await engine.run_level(workload(level), level, config.max_tokens)
            runs.append(level_run("direct", "chat", level, samples, wall))
        samples, wall = await engine.run_level(long_workload(0), 1, config.max_tokens)
        runs.append(level_run("direct", "ctx2k", 1, samples, wall))
    finally:
        await engine.shutdown()
    return runs


CpuReading = Callable[[], dict[str, float]]
"""CPU seconds so far of each part of the stack (``bench.process_cpu``)."""


async def run_platform(
    config: BenchConfig, api_url: str, token: str, cpu: CpuReading
) -> tuple[list[LevelRun], dict[str, dict[str, float]]]:
    """The levels' results, and each level's CPU milliseconds per token of every part of
    the stack (key ``"10"``, ``"ctx2k_c1"``: as in the JSON's results)."""
    runs: list[LevelRun] = []
    cpu_per_token: dict[str, dict[str, float]] = {}
    await platform_path.run_level(api_url, token, [short_chat(99)], 1, config.max_tokens)

    async def level(case: str, chats: list[list[Message]], concurrency: int) -> None:
        before = cpu()
        samples, wall = await platform_path.run_level(
            api_url, token, chats, concurrency, config.max_tokens
        )
        tokens = sum(s.completion_tokens for s in samples)
        key = str(concurrency) if case == "chat" else f"{case}_c{concurrency}"
        cpu_per_token[key] = parts = process_cpu.per_token_ms(before, cpu(), tokens)
        run = level_run("platform", case, concurrency, samples, wall)
        runs.append(run)
        say(f"platform {case:5} c={concurrency:<2} CPU ms per token: {cpu_line(parts)}")
        stages = run.summary().first_token_stages
        say(f"platform {case:5} c={concurrency:<2} first token p50/p95 ms: {stage_line(stages)}")

    for concurrency in config.levels:
        await level("chat", workload(concurrency), concurrency)
    # Other report numbers than the direct run: the prefix cache of this engine is cold too.
    await level("ctx2k", long_workload(100), 1)
    return runs, cpu_per_token


def cpu_line(parts: dict[str, float]) -> str:
    """The platform's own processes first (their sum), then the engine's."""
    own = {name: ms for name, ms in parts.items() if name != process_cpu.ENGINE}
    listed = ", ".join(f"{name} {ms}" for name, ms in sorted(own.items()))
    engine = parts.get(process_cpu.ENGINE)
    return f"platform {sum(own.values()):.3f} ({listed}); engine {engine}"


def stage_line(stages: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{stage} {q['p50']}/{q['p95']}" for stage, q in stages.items()) or "-"


def report(result: LevelResult) -> LevelResult:
    say(
        f"{result.path:8} {result.case:5} c={result.concurrency:<2} "
        f"ttft p50 {result.ttft_p50_ms} ms p95 {result.ttft_p95_ms} ms, "
        f"{result.tokens_per_s} tok/s, {result.requests_per_min} req/min, "
        f"errors {result.error_rate:.1%}"
    )
    return result


def by_path(results: list[LevelResult]) -> dict[str, dict[str, object]]:
    """The JSON shape: path -> level key (``"5"``, ``"ctx2k_c1"``) -> result."""
    return {
        path: {
            f"{r.case}_c{r.concurrency}" if r.case != "chat" else str(r.concurrency): (
                msgspec.to_builtins(r)
            )
            for r in results
            if r.path == path
        }
        for path in ("platform", "direct")
    }


def run_platform_phase(
    config: BenchConfig, round_no: int, with_conversation_load: bool
) -> tuple[list[LevelRun], dict[str, dict[str, float]], conversation_load.LoadResult | None]:
    stack_dir = config.data_dir / f"bench-stack-{round_no}"
    settings = platform_stack_settings(stack_dir)
    say("platform: starting nats-server, persistence, metering, model-admin, worker and api")
    load = None
    with Stack(settings) as stack:
        stack.wait_ready(say)
        token = dev_token(stack_dir)
        runs, cpu = asyncio.run(
            run_platform(
                config, settings.api_url, token, lambda: process_cpu.stack_cpu_by_part(stack)
            )
        )
        if with_conversation_load:
            say("conversation load: 1,000 stored messages through GET /api/conversations/{id}")
            load = asyncio.run(
                conversation_load.measure(
                    settings.api_url, token, stack.bus_url(WORKER), user_id=DEV_USER_ID
                )
            )
            say(
                f"conversation load: {load.messages} messages, p50 {load.p50_ms} ms, "
                f"p95 {load.p95_ms} ms, max {load.max_ms} ms over {load.requests} requests"
            )
    return runs, cpu, load


def main() -> int:
    config = load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    runs: list[LevelRun] = []
    per_round: list[list[LevelResult]] = []
    cpu_per_round: list[dict[str, dict[str, float]]] = []
    load: conversation_load.LoadResult | None = None
    for round_no in range(1, config.rounds + 1):
        order = ("direct", "platform") if round_no % 2 else ("platform", "direct")
        say(f"round {round_no} of {config.rounds}: {order[0]} first")
        round_runs: list[LevelRun] = []
        for path in order:
            if path == "direct":
                round_runs += asyncio.run(run_direct(config))
            else:
                platform_runs, cpu, round_load = run_platform_phase(config, round_no, load is None)
                round_runs += platform_runs
                cpu_per_round.append(cpu)
                load = load or round_load
        per_round.append([run.summary() for run in round_runs])
        runs += round_runs
    results = pooled(runs)
    for round_no, round_results in enumerate(per_round, start=1):
        print(f"round {round_no}")
        print(table(round_results))
    print(f"all {config.rounds} rounds pooled")
    print(table(results))
    print("platform first token by stage, p50/p95 ms (pooled)")
    for result in results:
        if result.path == "platform":
            print(
                f"{result.case:6} {result.concurrency:>4} | {stage_line(result.first_token_stages)}"
            )
    config.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "max_tokens": config.max_tokens,
        "levels": list(config.levels),
        "rounds": config.rounds,
        "conversation_load": msgspec.to_builtins(load),
        "results": by_path(results),
        "per_round": [by_path(round_results) for round_results in per_round],
        # CPU ms per token of each part of the stack, per round and level
        "platform_cpu_ms_per_token": cpu_per_round,
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
