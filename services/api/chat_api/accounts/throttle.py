"""``AuthThrottle``: sign-in and registration attempts per client address and per
account, counted by the chats' ``RateLimiter`` (its store: a sliding minute, with
``RATE_LIMIT_STORE=redis`` shared by every api instance; its outage handling and
``RATE_LIMIT_FAIL_OPEN``). Past a budget: 429 ``rate_limited`` with Retry-After, before
persistence is asked, so password guessing is slowed and a flood of logins does not keep
persistence hashing passwords."""

from __future__ import annotations

from chat_api.errors import ApiError
from chat_api.limits.limiter import RateLimiter
from chat_api.limits.policy import Limits
from chat_api.limits.store import Subject
from contracts.errors import ErrorCode

AUTH_THROTTLE_KEY = "auth_throttle"
"""Where the app state keeps the ``AuthThrottle``."""


class AuthThrottle:
    def __init__(self, limiter: RateLimiter, *, per_address: int, per_account: int) -> None:
        self.limiter = limiter
        self.per_address = per_address
        """Attempts (of one kind) from one client address in any 60 s; 0: unlimited."""
        self.per_account = per_account
        """Attempts on one account (its e-mail) in any 60 s, from anywhere; 0: unlimited."""

    async def attempt(self, action: str, address: str | None, account: str | None) -> None:
        """Count one ``action`` (``login``, ``register``) attempt, or refuse it (429)."""
        scopes: list[tuple[str, str, int]] = []
        if address and self.per_address > 0:
            scopes.append((f"{{auth:{address}}}:{action}", "address", self.per_address))
        if account and self.per_account > 0:
            key = f"{{auth:{account.strip().lower()}}}:{action}"
            scopes.append((key, "account", self.per_account))
        for key, scope, per_minute in scopes:
            # One subject per call: two hash tags in one Redis script would span slots.
            subject = Subject(key=key, scope=scope, limits=Limits(rpm=per_minute))
            verdict = await self.limiter.count(subject)
            if verdict is not None and not verdict.allowed:
                retry_after = max(1, round(verdict.retry_after_s))
                raise ApiError(
                    429,
                    ErrorCode.RATE_LIMITED,
                    f"too many {action} attempts for this {scope}: "
                    f"at most {per_minute} a minute; retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                )
