"""``RedisLimitStore``: limits shared by every api instance, one Lua script per step.

Per subject three keys under ``<prefix>:<subject.key>`` (the subject key carries the user
id as a ``{hash tag}``, so the keys of one admission live in one cluster slot):

- ``:log``     sorted set, request id -> admitted at (ms): the sliding log (rpm, tpm);
- ``:cost``    hash, request id -> reserved / settled tokens, plus ``~used`` (their sum);
- ``:streams`` sorted set, request id -> lease expiry (ms): concurrent streams.

Time is the Redis server's ``TIME``, so api instances with skewed clocks still agree.
Keys expire on their own (the log after one window of silence, the leases after the
longest lease), so nothing needs sweeping. Any Redis error is ``LimitStoreUnavailable``;
the limiter decides whether that fails open or closed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.trace import TracerProvider
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_api.limits.store import (
    ALLOWED,
    CONCURRENCY_RETRY_S,
    WINDOW_S,
    LimitKind,
    LimitStoreUnavailable,
    Subject,
    Verdict,
)
from llmchat_bus.tracing import prefer_stable_semconv

# KEYS: (log, cost, streams) per subject.
# ARGV: window_ms, request_id, tokens, lease_ms, concurrency_retry_ms,
#       then (rpm, tpm, concurrent) per subject.
# Returns {1} or {0, wait_ms, limit, subject_index (0-based)}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local rid = ARGV[2]
local tokens = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local conc_retry = tonumber(ARGV[5])
local n = #KEYS / 3
local worst, worst_limit, worst_subject = -1, '', 0

local function note(wait, limit, i)
  if wait > worst then worst, worst_limit, worst_subject = wait, limit, i end
end

local function trim(log, cost, cutoff)
  while true do
    local old = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff, 'LIMIT', 0, 256)
    if #old == 0 then return end
    local costs = redis.call('HMGET', cost, unpack(old))
    local freed = 0
    for j = 1, #costs do freed = freed + (tonumber(costs[j]) or 0) end
    redis.call('HDEL', cost, unpack(old))
    redis.call('ZREM', log, unpack(old))
    if freed ~= 0 then redis.call('HINCRBY', cost, '~used', -freed) end
  end
end

local function token_wait(log, cost, need)
  local freed, offset = 0, 0
  while true do
    local page = redis.call('ZRANGE', log, offset, offset + 255, 'WITHSCORES')
    if #page == 0 then return window end
    for j = 1, #page, 2 do
      freed = freed + (tonumber(redis.call('HGET', cost, page[j])) or 0)
      if freed >= need then return tonumber(page[j + 1]) + window - now end
    end
    offset = offset + 256
  end
end

for i = 0, n - 1 do
  local log, cost, streams = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local rpm, tpm, conc = tonumber(ARGV[6 + 3 * i]), tonumber(ARGV[7 + 3 * i]),
    tonumber(ARGV[8 + 3 * i])
  if rpm > 0 or tpm > 0 then trim(log, cost, now - window) end
  if rpm > 0 then
    local count = redis.call('ZCARD', log)
    if count >= rpm then
      local entry = redis.call('ZRANGE', log, count - rpm, count - rpm, 'WITHSCORES')
      note(tonumber(entry[2]) + window - now, 'rpm', i)
    end
  end
  if tpm > 0 then
    local used = tonumber(redis.call('HGET', cost, '~used') or '0')
    local need = used + math.min(tokens, tpm) - tpm
    if need > 0 then note(token_wait(log, cost, need), 'tpm', i) end
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', streams, '-inf', now)
    if redis.call('ZCARD', streams) >= conc then note(conc_retry, 'concurrent', i) end
  end
end
if worst >= 0 then return {0, worst, worst_limit, worst_subject} end

for i = 0, n - 1 do
  local log, cost, streams = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local rpm, tpm, conc = tonumber(ARGV[6 + 3 * i]), tonumber(ARGV[7 + 3 * i]),
    tonumber(ARGV[8 + 3 * i])
  if rpm > 0 or tpm > 0 then
    redis.call('ZADD', log, now, rid)
    redis.call('PEXPIRE', log, window)
  end
  if tpm > 0 then
    local reserve = math.min(tokens, tpm)
    redis.call('HSET', cost, rid, reserve)
    redis.call('HINCRBY', cost, '~used', reserve)
    redis.call('PEXPIRE', cost, window)
  end
  if conc > 0 then
    redis.call('ZADD', streams, now + lease, rid)
    if redis.call('PTTL', streams) < lease then redis.call('PEXPIRE', streams, lease) end
  end
end
return {1}
"""

# KEYS: (log, cost, streams) per subject. ARGV: request_id, tokens (-1 = keep), forget.
_FINISH = """
local rid = ARGV[1]
local tokens = tonumber(ARGV[2])
local forget = ARGV[3] == '1'
for i = 0, #KEYS / 3 - 1 do
  local log, cost, streams = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  redis.call('ZREM', streams, rid)
  local old = redis.call('HGET', cost, rid)
  if forget then
    redis.call('ZREM', log, rid)
    if old then
      redis.call('HDEL', cost, rid)
      redis.call('HINCRBY', cost, '~used', -tonumber(old))
    end
  elseif old and tokens >= 0 then
    redis.call('HSET', cost, rid, tokens)
    redis.call('HINCRBY', cost, '~used', tokens - tonumber(old))
  end
end
return 1
"""

_KINDS: dict[str, LimitKind] = {"rpm": "rpm", "tpm": "tpm", "concurrent": "concurrent"}


class RedisLimitStore:
    def __init__(self, redis: Redis, prefix: str, window_s: float = WINDOW_S) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix must not contain braces (cluster hash tags)")
        self.redis = redis
        self.prefix = prefix
        self.window_ms = int(window_s * 1000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._finish = redis.register_script(_FINISH)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        timeout_s: float = 0.5,
        window_s: float = WINDOW_S,
        tracer_provider: TracerProvider | None = None,
    ) -> RedisLimitStore:
        """A client that gives up within ``timeout_s``: a chat never waits long on Redis.
        With ``tracer_provider`` (tracing on) each command is a client span of
        opentelemetry-instrumentation-redis (its name, the arguments as ``?``)."""
        client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            health_check_interval=30,
        )
        if tracer_provider is not None:
            prefer_stable_semconv()
            RedisInstrumentor.instrument_client(client, tracer_provider=tracer_provider)
        return cls(client, prefix, window_s)

    def _keys(self, subjects: Sequence[Subject]) -> list[str]:
        keys: list[str] = []
        for subject in subjects:
            base = f"{self.prefix}:{subject.key}"
            keys += (f"{base}:log", f"{base}:cost", f"{base}:streams")
        return keys

    async def acquire(
        self, subjects: Sequence[Subject], request_id: str, tokens: int, lease_s: float
    ) -> Verdict:
        args: list[str | int] = [
            self.window_ms,
            request_id,
            tokens,
            max(1, int(lease_s * 1000)),
            int(CONCURRENCY_RETRY_S * 1000),
        ]
        for subject in subjects:
            limits = subject.limits
            args += (limits.rpm, limits.tpm, limits.concurrent)
        try:
            result = await self._acquire(keys=self._keys(subjects), args=args)
        except (RedisError, OSError) as exc:
            raise LimitStoreUnavailable(f"redis: {exc!r}") from exc
        if int(result[0]) == 1:
            return ALLOWED
        wait_ms, limit, index = int(result[1]), result[2], int(result[3])
        kind = _KINDS[limit.decode() if isinstance(limit, bytes) else str(limit)]
        return Verdict(
            allowed=False,
            retry_after_s=max(1.0, math.ceil(wait_ms / 1000)),
            limit=kind,
            scope=subjects[index].scope,
        )

    async def finish(
        self, subjects: Sequence[Subject], request_id: str, tokens: int | None, forget: bool
    ) -> None:
        args: list[str | int] = [request_id, -1 if tokens is None else tokens, 1 if forget else 0]
        try:
            await self._finish(keys=self._keys(subjects), args=args)
        except (RedisError, OSError) as exc:
            raise LimitStoreUnavailable(f"redis: {exc!r}") from exc

    async def close(self) -> None:
        await self.redis.aclose()
