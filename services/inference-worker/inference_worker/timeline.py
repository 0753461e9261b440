"""The worker's stamps of one request up to its first token.

Taken with ``time.time_ns()`` as each step happens (a few calls per request, none per
token after the first) and sent with the request's last chunk as
``contracts.inference.WorkerTimeline``: the api sets them beside its own stamps to tell
where a slow first token spent its time.
"""

from __future__ import annotations

import time

from contracts.inference import WorkerTimeline


class TimelineStamps:
    """Mutable while the request runs; ``timeline()`` freezes it for the last chunk."""

    __slots__ = (
        "acked",
        "engine_submitted",
        "fetched",
        "first_chunk_sent",
        "first_output",
        "prompt_built",
    )

    def __init__(self, fetched: int = 0, acked: int = 0) -> None:
        self.fetched = fetched
        self.acked = acked
        self.prompt_built = 0
        self.engine_submitted = 0
        self.first_output = 0
        self.first_chunk_sent = 0

    def timeline(self) -> WorkerTimeline:
        # A one-chunk answer's first chunk is its last, stamped as it is built.
        first_chunk_sent = self.first_chunk_sent or time.time_ns()
        return WorkerTimeline(
            fetched=self.fetched,
            acked=self.acked,
            prompt_built=self.prompt_built,
            engine_submitted=self.engine_submitted,
            first_output=self.first_output,
            first_chunk_sent=first_chunk_sent,
        )
