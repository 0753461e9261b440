"""Email / password rules and secret formats."""

from __future__ import annotations

import asyncio
import time

import pytest
from argon2 import PasswordHasher

from contracts.errors import ErrorCode
from persistence.credentials import (
    Passwords,
    digest,
    new_api_key,
    new_refresh_token,
    normalise_email,
    password_problem,
)
from persistence.errors import DomainError


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        (" bob@sub.example.org ", "bob@sub.example.org"),
        ("admin@localhost", "admin@localhost"),
        ("a+tag@x.io", "a+tag@x.io"),
        ("no-at-sign", None),
        ("two@@example.com", None),
        ("sp ace@example.com", None),
        ("@example.com", None),
        ("a@", None),
        ("a@.com", None),
        ("x" * 65 + "@example.com", None),
    ],
)
def test_normalise_email(raw: str, stored: str | None) -> None:
    assert normalise_email(raw) == stored


def test_password_rules() -> None:
    assert password_problem("1234567") is not None
    assert password_problem("12345678") is None
    assert password_problem("x" * 2000) is not None


def test_secrets_are_random_and_hashed() -> None:
    key = new_api_key()
    assert key.startswith("sk-llmchat-")
    assert len(key) > 40
    assert new_api_key() != key
    assert new_refresh_token() != new_refresh_token()
    assert digest(key) == digest(key)
    assert len(digest(key)) == 64


async def test_password_work_beyond_its_bound_is_refused_at_once() -> None:
    """A login flood must not hold every request slot of persistence: past ``concurrency``
    running and ``queue`` waiting, a check is refused without waiting (retry later)."""
    passwords = Passwords(
        PasswordHasher(time_cost=3, memory_cost=32 * 1024, parallelism=1), concurrency=1, queue=1
    )
    stored = await passwords.hash("correct horse")
    started = time.monotonic()
    results = await asyncio.gather(
        *(passwords.verify(stored, "wrong password") for _ in range(5)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 3
    assert {r.code for r in refused} == {ErrorCode.SERVICE_UNAVAILABLE}
    assert [r for r in results if not isinstance(r, BaseException)] == [(False, False)] * 2
    # Once the work in hand is done, checks go through again.
    assert await passwords.verify(stored, "correct horse") == (True, False)
    assert time.monotonic() - started < 30
