"""Per-request samples and the per-level summary written to the JSON report."""

from __future__ import annotations

import statistics

import msgspec


class Sample(msgspec.Struct, kw_only=True):
    ttft_s: float | None
    completion_tokens: int
    ok: bool
    error: str = ""
    stages: dict[str, float] | None = None
    """The platform's first token by stage in ms (the api's ``timeline``); None: direct."""


class LevelResult(msgspec.Struct, kw_only=True):
    path: str
    """'platform' or 'direct'."""
    case: str
    """'chat' (short prompts) or 'ctx2k' (about 2,000 prompt tokens)."""
    concurrency: int
    requests: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    tokens_per_s: float
    requests_per_min: float
    error_rate: float
    completion_tokens: int
    wall_s: float
    errors: list[str] = []
    first_token_stages: dict[str, dict[str, float]] = {}
    """Stage -> {"p50": ms, "p95": ms} over the requests that told their stages."""


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarize(
    path: str, case: str, concurrency: int, samples: list[Sample], wall_s: float
) -> LevelResult:
    ttfts = [s.ttft_s * 1000 for s in samples if s.ok and s.ttft_s is not None]
    tokens = sum(s.completion_tokens for s in samples if s.ok)
    failed = [s for s in samples if not s.ok]
    p50, p95 = percentile(ttfts, 50), percentile(ttfts, 95)
    return LevelResult(
        first_token_stages=stage_percentiles(samples),
        path=path,
        case=case,
        concurrency=concurrency,
        requests=len(samples),
        ttft_p50_ms=None if p50 is None else round(p50, 2),
        ttft_p95_ms=None if p95 is None else round(p95, 2),
        tokens_per_s=round(tokens / wall_s, 2) if wall_s > 0 else 0.0,
        requests_per_min=(
            round((len(samples) - len(failed)) / wall_s * 60, 2) if wall_s > 0 else 0.0
        ),
        error_rate=round(len(failed) / len(samples), 4) if samples else 0.0,
        completion_tokens=tokens,
        wall_s=round(wall_s, 3),
        errors=sorted({s.error for s in failed})[:5],
    )


def stage_percentiles(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """p50 / p95 in ms of each first-token stage, in the order the api names them."""
    by_stage: dict[str, list[float]] = {}
    for sample in samples:
        for stage, ms in (sample.stages or {}).items():
            by_stage.setdefault(stage, []).append(ms)
    return {
        stage: {
            "p50": round(percentile(values, 50) or 0.0, 3),
            "p95": round(percentile(values, 95) or 0.0, 3),
        }
        for stage, values in by_stage.items()
    }


class LevelRun(msgspec.Struct, kw_only=True):
    """One level of one path in one round, before it is summarised."""

    path: str
    case: str
    concurrency: int
    samples: list[Sample]
    wall_s: float

    def summary(self) -> LevelResult:
        return summarize(self.path, self.case, self.concurrency, self.samples, self.wall_s)


def pooled(runs: list[LevelRun]) -> list[LevelResult]:
    """One result per (path, case, concurrency): the samples and wall time of every round."""
    merged: dict[tuple[str, str, int], LevelRun] = {}
    for run in runs:
        key = (run.path, run.case, run.concurrency)
        if key not in merged:
            merged[key] = LevelRun(
                path=run.path, case=run.case, concurrency=run.concurrency, samples=[], wall_s=0.0
            )
        merged[key].samples.extend(run.samples)
        merged[key].wall_s += run.wall_s
    return [run.summary() for run in merged.values()]


def table(results: list[LevelResult], baseline: str = "direct") -> str:
    """The platform beside ``baseline`` (another path's name), level by level."""
    by_key = {(r.path, r.case, r.concurrency): r for r in results}
    lines = [
        f"{'case':6} {'conc':>4} | {'TTFT p50 ms':>23} | {'TTFT p95 ms':>23} | "
        f"{'tokens/s':>23} | {'req/min':>17} | errors",
        f"{'':6} {'':>4} | {'platform  other  +ms':>23} | {'platform  other  +ms':>23} | "
        f"{'platform  other  ratio':>23} | {'platform  other':>17} |   ({baseline})",
    ]
    for case, conc in sorted({(r.case, r.concurrency) for r in results}):
        p, d = by_key.get(("platform", case, conc)), by_key.get((baseline, case, conc))
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
