"""``ChatAdmission``: may this chat start now? This instance's load first, then the queue
bound, then the rate limits.

Both chat routes (``/api/chat`` and ``/v1/chat/completions``) go through
``ChatService.start``, which asks ``admit`` after validation (a bad request costs no
budget) and right before the request is published; the returned ticket is settled when
the relay closes. Order: a model over its queue bound answers 503 ``model_overloaded``
before any budget is reserved, so shed load costs the caller nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.js import JetStreamContext
from opentelemetry.trace import TracerProvider

from chat_api.auth.tokens import AuthUser
from chat_api.errors import ApiError
from chat_api.limits.limiter import RateLimiter, Ticket
from chat_api.limits.load import LoopLag
from chat_api.limits.memory_store import MemoryLimitStore
from chat_api.limits.policy import QueueBounds
from chat_api.limits.queue import JetStreamQueueProbe, QueueMonitor
from chat_api.limits.redis_store import RedisLimitStore
from chat_api.limits.store import LimitStore
from chat_api.settings import ApiSettings
from contracts.errors import ErrorCode
from contracts.inference import ChatRequest


class ChatAdmission:
    def __init__(
        self,
        limiter: RateLimiter,
        bounds: QueueBounds,
        queue: QueueMonitor | None = None,
        queue_retry_after_s: int = 5,
        load: LoopLag | None = None,
        overload_retry_after_s: int = 2,
    ) -> None:
        self.limiter = limiter
        self.bounds = bounds
        self.queue = queue
        self.queue_retry_after_s = queue_retry_after_s
        self.load = load
        """This instance's event loop lag (None: never refuse for load)."""
        self.overload_retry_after_s = overload_retry_after_s

    @classmethod
    def from_settings(
        cls,
        settings: ApiSettings,
        js: JetStreamContext | None = None,
        store: LimitStore | None = None,
        tracer_provider: TracerProvider | None = None,
        open_streams: Callable[[], int] | None = None,
    ) -> ChatAdmission:
        """The store ``RATE_LIMIT_STORE`` names (unless one is given); with ``js`` also the
        queue monitor and the loop lag (call ``start``), which bounds ``open_streams()``
        (the streams this instance relays); ``tracer_provider``: tracing on."""
        limiter = RateLimiter(
            settings.rate_limits,
            store or limit_store(settings, tracer_provider),
            fail_open=settings.rate_limit_fail_open,
            default_output_tokens=settings.limit_default_output_tokens,
        )
        queue = load = None
        if js is not None:
            queue = QueueMonitor(
                JetStreamQueueProbe(js), settings.models, settings.queue_poll_interval_s
            )
            load = LoopLag(settings.max_loop_lag_ms / 1000.0, open_streams=open_streams)
        return cls(
            limiter,
            settings.max_queue_depth,
            queue,
            settings.queue_retry_after_s,
            load,
            settings.overload_retry_after_s,
        )

    def start(self) -> None:
        if self.queue is not None:
            self.queue.start()
        if self.load is not None:
            self.load.start()

    def check_load(self) -> None:
        """503 ``overloaded`` while this instance's loop is too far behind: asked first,
        before a refused chat costs any work."""
        load = self.load
        if load is not None and load.overloaded:
            bound = "" if load.stream_bound is None else f", at most {load.stream_bound} streams"
            raise ApiError(
                503,
                ErrorCode.OVERLOADED,
                f"this api instance is at capacity (its event loop is "
                f"{load.lag_s * 1000:.0f} ms behind{bound}); retry",
                headers={"Retry-After": str(self.overload_retry_after_s)},
            )

    def check_queue(self, model: str) -> None:
        if self.queue is None:
            return
        bound = self.bounds.for_model(model)
        if bound <= 0:
            return
        depth = self.queue.depth(model)
        if depth >= bound:
            raise ApiError(
                503,
                ErrorCode.MODEL_OVERLOADED,
                f"model {model!r} has {depth} requests waiting (bound {bound}); retry later",
                headers={"Retry-After": str(self.queue_retry_after_s)},
            )

    async def admit(self, user: AuthUser, request: ChatRequest) -> Ticket | None:
        """Raise 503 ``model_overloaded`` or 429 ``rate_limited``, else the ticket to settle
        when the stream ends (None: no limit applies to this caller)."""
        self.check_queue(request.model)
        return await self.limiter.acquire(user, request)

    async def close(self) -> None:
        if self.load is not None:
            await self.load.close()
        if self.queue is not None:
            await self.queue.close()
        await self.limiter.close()


def limit_store(settings: ApiSettings, tracer_provider: TracerProvider | None = None) -> LimitStore:
    if settings.rate_limit_store == "redis":
        return RedisLimitStore.from_url(
            settings.redis_url,
            settings.rate_limit_key_prefix,
            settings.redis_timeout_s,
            tracer_provider=tracer_provider,
        )
    return MemoryLimitStore()
