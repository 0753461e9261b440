"""Subject builders, and the rule that subject literals live only in contracts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts import subjects

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["services", "libs", "deploy", "tools"]


def test_builders_make_single_safe_tokens() -> None:
    assert subjects.request_subject("google/gemma-3.1b") == "inference.request.v1.google_gemma-3_1b"
    assert subjects.chunk_subject("api.1", "abc.def>*") == "inference.chunks.v1.api_1.abc_def__"
    assert subjects.relay_chunk_subjects("api.1") == "inference.chunks.v1.api_1.*"
    assert subjects.request_chunk_subjects("abc.def>*") == "inference.chunks.v1.*.abc_def__"
    assert subjects.request_id_of_chunk(subjects.chunk_subject("a", "r-1")) == "r-1"
    assert subjects.request_consumer("a.b") == "workers-a_b"


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        subjects.subject_token("")


def test_terminal_events_share_one_dedup_id() -> None:
    ids = {subjects.event_msg_id("r1", kind) for kind in ("completed", "failed", "cancelled")}
    assert ids == {"r1:terminal"}
    assert subjects.event_msg_id("r1", "accepted") == "r1:accepted"


def test_streams_cover_their_subjects() -> None:
    assert subjects.request_subject("m").startswith(subjects.REQUEST_SUBJECTS[:-1])
    assert subjects.chunk_subject("a", "r").startswith(subjects.CHUNK_SUBJECTS[:-1])
    assert subjects.EVENT_COMPLETED.startswith(subjects.EVENT_SUBJECTS[:-1])


def test_no_subject_literals_outside_contracts() -> None:
    pattern = re.compile(
        r"""["'](inference|chat)\.(request|chunks|cancel|events|workers)\b|["']persistence\.v1"""
    )
    assert all((ROOT / folder).is_dir() for folder in SOURCE_DIRS)
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in SOURCE_DIRS
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
