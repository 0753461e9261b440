"""Passwords (argon2id), refresh tokens and API keys (random secrets, SHA-256 at rest).

argon2 hashing is CPU-bound (tens of milliseconds), so it runs in a thread, never on the
event loop, and only ``concurrency`` at a time with at most ``queue`` more waiting: past
that a login / register / password change is refused at once (``service_unavailable``,
retry), so a flood of logins cannot hold every request slot of persistence and starve the
requests every chat makes (user look-ups, keys, settings, conversations).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contracts.accounts import API_KEY_PREFIX
from contracts.errors import ErrorCode
from persistence.errors import DomainError

T = TypeVar("T")

API_KEY_SHOWN_CHARS = 12
"""``ApiKeyView.prefix`` is the first 12 characters of the key."""
UNUSABLE_PASSWORD = "!unusable"
"""Stored for accounts that cannot log in with a password (no argon2 hash matches it)."""
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


def normalise_email(email: str) -> str | None:
    """The stored (lowercased) form, or None if it is not a sane address."""
    value = email.strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        return None
    return value


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"password must be at most {MAX_PASSWORD} characters"
    return None


def busy() -> DomainError:
    return DomainError(
        ErrorCode.SERVICE_UNAVAILABLE, "too many password checks at once; retry in a moment"
    )


class Passwords:
    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        concurrency: int | None = None,
        queue: int = 16,
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        # Verified against when the email is unknown, so both cases cost the same.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self.concurrency = concurrency or os.cpu_count() or 2
        self._slots = asyncio.Semaphore(self.concurrency)
        self._bound = self.concurrency + queue
        self._in_hand = 0
        """Hashes running or waiting for a slot."""

    async def _work(self, fn: Callable[..., T], *args: object) -> T:
        if self._in_hand >= self._bound:
            raise busy()
        self._in_hand += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(fn, *args)
        finally:
            self._in_hand -= 1

    async def hash(self, password: str) -> str:
        return await self._work(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False, False
        if stored is None:
            return False, False
        return True, self._hasher.check_needs_rehash(stored)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash). ``stored`` None: an unknown user (still costs a hash)."""
        if stored is not None and not stored.startswith("$argon2"):
            stored = None  # unusable password: same cost, never a match
        return await self._work(self._verify, stored, password)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)
