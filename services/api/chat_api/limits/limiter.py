"""``RateLimiter``: a chat's caller and size -> admitted (a ``Ticket``) or 429.

Token accounting: at admission a chat reserves what it may cost, ``prompt estimate +
max_tokens`` (``LIMIT_DEFAULT_OUTPUT_TOKENS`` when the request names none: set it to the
workers' ``WORKER_DEFAULT_MAX_TOKENS``); the prompt estimate is one token per 4
characters. When the stream ends the reservation is replaced by the real count, the
``usage`` of the last chunk (prompt + completion tokens). A stream that ends without
usage (client disconnect, worker lost) settles at the estimate plus one token per chunk
relayed. Reserving first is what makes the budget hold under concurrency: N streams
started at once cannot each see the whole budget free.

The store being unreachable never gives a 500: ``fail_open`` admits the chat unlimited,
otherwise 503 ``service_unavailable``. Either way it is logged once per outage, and the
store is left alone for ``outage_backoff_s`` so chats do not each wait for a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from chat_api.auth.tokens import AuthUser
from chat_api.errors import ApiError
from chat_api.limits.policy import RateLimitPolicy
from chat_api.limits.store import LimitStore, LimitStoreUnavailable, Subject, Verdict
from contracts.errors import ErrorCode
from contracts.inference import ChatRequest, Usage

log = logging.getLogger("chat_api.limits")

CHARS_PER_TOKEN = 4
LEASE_GRACE_S = 15.0
"""A stream slot outlives the request's deadline by this much (the relay's own grace)."""

_WHAT = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "concurrent": "concurrent streams",
}


def estimate_prompt_tokens(request: ChatRequest) -> int:
    chars = sum(len(m.content) for m in request.messages)
    return -(-chars // CHARS_PER_TOKEN) + len(request.messages)


def _safe(part: str) -> str:
    return part.replace("{", "_").replace("}", "_")


def subjects_of(policy: RateLimitPolicy, user: AuthUser) -> tuple[Subject, ...]:
    """The scopes this caller's chats count against (unlimited scopes left out)."""
    tag = "{" + _safe(user.id) + "}"
    subjects: list[Subject] = []
    limits = policy.for_user(user.role)
    if not limits.unlimited:
        subjects.append(Subject(key=f"{tag}:user", scope="user", limits=limits))
    if user.key_id is not None:
        key_limits = policy.for_key(user.role)
        if not key_limits.unlimited:
            subjects.append(
                Subject(key=f"{tag}:key:{_safe(user.key_id)}", scope="api_key", limits=key_limits)
            )
    return tuple(subjects)


def rejection(verdict: Verdict) -> ApiError:
    what = _WHAT.get(verdict.limit or "", "rate")
    scope = "API key" if verdict.scope == "api_key" else "user"
    retry = int(verdict.retry_after_s)
    return ApiError(
        429,
        ErrorCode.RATE_LIMITED,
        f"{what} limit of this {scope} reached; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


class Ticket:
    """One admitted chat's share of the limits; ``finish`` it exactly once."""

    __slots__ = ("_done", "_limiter", "prompt_estimate", "request_id", "subjects")

    def __init__(
        self,
        limiter: RateLimiter,
        subjects: tuple[Subject, ...],
        request_id: str,
        prompt_estimate: int,
    ) -> None:
        self._limiter = limiter
        self.subjects = subjects
        self.request_id = request_id
        self.prompt_estimate = prompt_estimate
        self._done = False

    def settle(self, usage: Usage | None, chunks_relayed: int) -> None:
        """The stream ended: free its slot, replace the reservation by what it cost."""
        if self._done:
            return
        self._done = True
        tokens = (
            usage.total_tokens
            if usage is not None
            else self.prompt_estimate + max(0, chunks_relayed)
        )
        self._limiter.spawn_finish(self, tokens, forget=False)

    def forget(self) -> None:
        """The chat never started (it could not be queued): undo the admission."""
        if self._done:
            return
        self._done = True
        self._limiter.spawn_finish(self, None, forget=True)


class RateLimiter:
    def __init__(
        self,
        policy: RateLimitPolicy,
        store: LimitStore,
        *,
        fail_open: bool = True,
        default_output_tokens: int = 256,
        outage_backoff_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.store = store
        self.fail_open = fail_open
        self.default_output_tokens = default_output_tokens
        self.outage_backoff_s = outage_backoff_s
        self._clock = clock
        self._down_until: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def acquire(self, user: AuthUser, request: ChatRequest) -> Ticket | None:
        """Admit the chat (a ticket; None when no limit applies) or raise 429 / 503."""
        subjects = subjects_of(self.policy, user)
        if not subjects:
            return None
        prompt = estimate_prompt_tokens(request)
        max_tokens = request.sampling.max_tokens
        tokens = prompt + (max_tokens if max_tokens is not None else self.default_output_tokens)
        lease_s = max(0.0, request.deadline - time.time()) + LEASE_GRACE_S
        verdict = await self._ask(subjects, request.request_id, tokens, lease_s)
        if verdict is None:
            return None
        if not verdict.allowed:
            raise rejection(verdict)
        return Ticket(self, subjects, request.request_id, prompt)

    async def count(self, subject: Subject) -> Verdict | None:
        """Count one attempt against ``subject`` alone (a sliding minute, nothing held):
        its verdict; None when the store is away and limits fail open (closed: 503)."""
        return await self._ask([subject], uuid.uuid4().hex, 0, 0.0)

    async def _ask(
        self, subjects: Sequence[Subject], request_id: str, tokens: int, lease_s: float
    ) -> Verdict | None:
        """The store's verdict; None (or 503, failing closed) while it is away, and for
        ``outage_backoff_s`` after it failed, so callers do not each wait for a timeout."""
        if self._down_until is not None and self._clock() < self._down_until:
            self._unavailable()
            return None
        try:
            verdict = await self.store.acquire(subjects, request_id, tokens, lease_s)
        except LimitStoreUnavailable as exc:
            if self._down_until is None:
                log.warning(
                    "rate limit store unreachable (%s); failing %s",
                    exc,
                    "open" if self.fail_open else "closed",
                )
            self._down_until = self._clock() + self.outage_backoff_s
            self._unavailable()
            return None
        if self._down_until is not None:
            self._down_until = None
            log.warning("rate limit store reachable again; limits enforced")
        return verdict

    def _unavailable(self) -> None:
        """Fail open (return: the chat goes unlimited) or closed (503)."""
        if self.fail_open:
            return
        raise ApiError(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "rate limiting is unavailable; retry later",
            headers={"Retry-After": str(max(1, round(self.outage_backoff_s)))},
        )

    def spawn_finish(self, ticket: Ticket, tokens: int | None, forget: bool) -> None:
        self._spawn(self._finish(ticket, tokens, forget))

    async def _finish(self, ticket: Ticket, tokens: int | None, forget: bool) -> None:
        try:
            await self.store.finish(ticket.subjects, ticket.request_id, tokens, forget)
        except LimitStoreUnavailable as exc:
            # The slot's lease and the window expire on their own.
            log.warning("request %s: could not settle its limits: %s", ticket.request_id, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the settlements in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        await self.store.close()
