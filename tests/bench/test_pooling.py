"""The bench report pools the rounds: every sample and all wall time of a level."""

from __future__ import annotations

from bench.stats import LevelRun, Sample, pooled


def ok(ttft_ms: float, tokens: int = 10) -> Sample:
    return Sample(ttft_s=ttft_ms / 1000, completion_tokens=tokens, ok=True)


def test_rounds_are_pooled_per_path_case_and_concurrency() -> None:
    runs = [
        LevelRun(path="direct", case="chat", concurrency=5, samples=[ok(10), ok(20)], wall_s=1.0),
        LevelRun(path="platform", case="chat", concurrency=5, samples=[ok(30)], wall_s=2.0),
        LevelRun(path="direct", case="chat", concurrency=5, samples=[ok(30), ok(40)], wall_s=3.0),
        LevelRun(
            path="platform",
            case="chat",
            concurrency=5,
            samples=[Sample(ttft_s=None, completion_tokens=0, ok=False, error="http 503")],
            wall_s=2.0,
        ),
    ]
    results = {(r.path, r.case, r.concurrency): r for r in pooled(runs)}
    direct = results[("direct", "chat", 5)]
    assert (direct.requests, direct.completion_tokens, direct.wall_s) == (4, 40, 4.0)
    assert direct.ttft_p50_ms == 25.0
    assert direct.tokens_per_s == 10.0
    platform = results[("platform", "chat", 5)]
    assert (platform.requests, platform.error_rate, platform.errors) == (2, 0.5, ["http 503"])
    assert platform.tokens_per_s == 2.5
    assert runs[0].samples == [ok(10), ok(20)]  # the rounds themselves are left alone


def test_first_token_stages_are_summarised_per_stage_over_the_requests_that_told_them() -> None:
    def staged(accept: float, engine: float) -> Sample:
        return Sample(
            ttft_s=0.1, completion_tokens=1, ok=True, stages={"accept": accept, "engine": engine}
        )

    run = LevelRun(
        path="platform",
        case="chat",
        concurrency=1,
        samples=[staged(1.0, 10.0), staged(3.0, 30.0), ok(5)],  # the last told none
        wall_s=1.0,
    )
    assert run.summary().first_token_stages == {
        "accept": {"p50": 2.0, "p95": 2.9},
        "engine": {"p50": 20.0, "p95": 29.0},
    }
    assert (
        LevelRun(path="direct", case="chat", concurrency=1, samples=[ok(5)], wall_s=1.0)
        .summary()
        .first_token_stages
        == {}
    )
