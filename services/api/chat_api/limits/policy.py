"""What the limits are: per role, per scope (the user, each API key), per model queue.

Pure values, read from the environment by ``ApiSettings`` and handed to the limiter.
``0`` means unlimited everywhere.
"""

from __future__ import annotations

import msgspec

from env_settings import SettingsError


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """The budget of one scope over a sliding minute; 0 = unlimited."""

    rpm: int = 0
    """Chat requests admitted in any 60 s."""
    tpm: int = 0
    """Tokens (prompt + completion) of the chats admitted in any 60 s."""
    concurrent: int = 0
    """Chat streams open at once."""

    @property
    def unlimited(self) -> bool:
        return self.rpm <= 0 and self.tpm <= 0 and self.concurrent <= 0


DEFAULT_USER_LIMITS = Limits(rpm=60, tpm=100_000, concurrent=4)


class RateLimitPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Two scopes, both enforced on every chat: the user (all of a user's chats, whatever
    the credential) and, when the caller authenticated with one, the API key (each key
    its own budget inside the user's). Each scope has a budget per role."""

    user: Limits = DEFAULT_USER_LIMITS
    admin: Limits = Limits()
    user_key: Limits = Limits()
    admin_key: Limits = Limits()

    def for_user(self, role: str) -> Limits:
        return self.admin if role == "admin" else self.user

    def for_key(self, role: str) -> Limits:
        return self.admin_key if role == "admin" else self.user_key


class QueueBounds(msgspec.Struct, frozen=True, kw_only=True):
    """``MAX_QUEUE_DEPTH``: requests waiting for a worker beyond which a model sheds load."""

    default: int = 100
    per_model: tuple[tuple[str, int], ...] = ()

    def for_model(self, model: str) -> int:
        for name, bound in self.per_model:
            if name == model:
                return bound
        return self.default

    @classmethod
    def parse(cls, spec: str) -> QueueBounds:
        """``"100"`` (every model) or ``"*=100,big-model=8"`` (``*`` = the others)."""
        spec = spec.strip()
        if not spec:
            return cls()
        if "=" not in spec:
            return cls(default=_non_negative("MAX_QUEUE_DEPTH", spec))
        default = cls().default
        per_model: list[tuple[str, int]] = []
        for part in spec.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or not name:
                raise SettingsError(f"MAX_QUEUE_DEPTH: {part.strip()!r} is not model=N")
            bound = _non_negative("MAX_QUEUE_DEPTH", value)
            if name == "*":
                default = bound
            else:
                per_model.append((name, bound))
        return cls(default=default, per_model=tuple(per_model))


def _non_negative(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}: {raw.strip()!r} is not an integer") from None
    if value < 0:
        raise SettingsError(f"{name}: {value} must be >= 0 (0 = unlimited)")
    return value
