"""The first token's stages from the api's and the worker's stamps."""

from __future__ import annotations

from chat_api.telemetry.timeline import FIRST_TOKEN_STAGES, ApiStamps, first_token_stages
from contracts.inference import WorkerTimeline

MS = 1_000_000


def api_stamps() -> ApiStamps:
    stamps = ApiStamps(received=999 * MS, handler=1_000 * MS)
    stamps.publishing = 1_002 * MS
    stamps.queued = 1_004 * MS
    stamps.first_chunk_received = 1_060 * MS
    stamps.first_token_written = 1_061 * MS
    return stamps


WORKER = WorkerTimeline(  # the generation starts while the ack travels
    fetched=1_003 * MS,
    prompt_built=1_004 * MS,
    engine_submitted=1_005 * MS,
    acked=1_007 * MS,
    first_output=1_057 * MS,
    first_chunk_sent=1_058 * MS,
)


def test_each_stage_is_the_span_between_its_two_stamps() -> None:
    assert first_token_stages(api_stamps(), WORKER) == {
        "http_in": 1.0,
        "accept": 2.0,
        "publish": 2.0,
        "to_worker": 1.0,
        "worker_ack": 4.0,
        "prompt": 2.0,
        "engine": 52.0,
        "worker_send": 1.0,
        "to_api": 2.0,
        "api_write": 1.0,
        "ttft": 62.0,
    }
    assert tuple(first_token_stages(api_stamps(), WORKER)) == FIRST_TOKEN_STAGES


def test_without_the_worker_timeline_only_the_api_stages() -> None:
    assert set(first_token_stages(api_stamps(), None)) == {
        "http_in",
        "accept",
        "publish",
        "api_write",
        "ttft",
    }


def test_a_stamp_never_taken_leaves_its_stages_out() -> None:
    stamps = api_stamps()
    stamps.first_token_written = 0  # the answer had no text: no token frame was written
    stages = first_token_stages(stamps, WORKER)
    assert "api_write" not in stages
    assert "ttft" not in stages
    assert stages["to_api"] == 2.0


def test_clocks_that_disagree_show_as_negative_cross_process_stages() -> None:
    """Across hosts a worker clock ahead of the api's shifts the two hand-overs: reported
    as measured, not hidden (the metrics clamp them at 0)."""
    ahead = WorkerTimeline(
        fetched=WORKER.fetched + 5 * MS,
        acked=WORKER.acked + 5 * MS,
        prompt_built=WORKER.prompt_built + 5 * MS,
        engine_submitted=WORKER.engine_submitted + 5 * MS,
        first_output=WORKER.first_output + 5 * MS,
        first_chunk_sent=WORKER.first_chunk_sent + 5 * MS,
    )
    stages = first_token_stages(api_stamps(), ahead)
    assert stages["to_worker"] == 6.0
    assert stages["to_api"] == -3.0
    assert stages["engine"] == 52.0
