"""Email / password rules and secret formats."""

from __future__ import annotations

import pytest

from persistence.credentials import (
    digest,
    new_api_key,
    new_refresh_token,
    normalise_email,
    password_problem,
)


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
