"""The seam between the limiter and where the counts live (this process, or Redis).

Semantics every store implements identically (the shared tests run against each):

- Requests and tokens per minute are a SLIDING LOG: each admitted request is an entry
  (admitted-at, request id, token cost); a check counts the entries of the last
  ``window_s``. Exact: at most N in ANY 60 s, never 2N across a window edge as a fixed
  window allows, and the answer does not depend on when a minute starts, which is what
  lets several api instances agree "exactly N". Memory is one entry per admitted request
  per scope for a minute, bounded by the limit itself.
- Concurrent streams are LEASES: each open stream holds a slot that expires at
  ``lease_s`` after admission (the request's deadline plus a grace) unless released
  first. A crashed api instance cannot leak a slot beyond its requests' deadlines, and
  one instance's crash never resets the others' slots (as a counter with a key TTL would).
- ``acquire`` checks every limit of every subject and records the request in all of
  them, or in none: one atomic step (one Lua script in Redis).
- A rejected request records nothing; the verdict says which limit and how long until
  a retry can pass (the oldest entry that must leave the window), at least 1 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from chat_api.limits.policy import Limits

LimitKind = Literal["rpm", "tpm", "concurrent"]

WINDOW_S = 60.0
CONCURRENCY_RETRY_S = 1.0
"""Retry-After for a full set of stream slots: streams end at any moment."""


@dataclass(frozen=True, slots=True)
class Subject:
    """One scope a chat counts against."""

    key: str
    """Stable storage key, e.g. ``{u1}:user`` or ``{u1}:key:k9`` (``{...}`` = the user:
    every key of one admission shares a Redis cluster hash slot)."""
    scope: str
    """``user`` or ``api_key``: named in the 429 message."""
    limits: Limits


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0
    limit: LimitKind | None = None
    scope: str | None = None


ALLOWED = Verdict(allowed=True)


class LimitStoreUnavailable(Exception):
    """The store could not be asked (Redis down, timed out)."""


class LimitStore(Protocol):
    async def acquire(
        self, subjects: Sequence[Subject], request_id: str, tokens: int, lease_s: float
    ) -> Verdict:
        """Admit ``request_id`` (reserving ``tokens`` in each tpm-limited subject, capped at
        that subject's tpm, and a stream slot for ``lease_s``) or say why not."""
        ...

    async def finish(
        self, subjects: Sequence[Subject], request_id: str, tokens: int | None, forget: bool
    ) -> None:
        """Release the stream slot. ``tokens``: the real cost replacing the reservation
        (None keeps it). ``forget``: the request never ran; remove it from every window."""
        ...

    async def close(self) -> None: ...
