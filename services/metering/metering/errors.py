"""``DomainError``: a refusal the caller should see, carrying a wire ``ErrorCode``."""

from __future__ import annotations

from contracts.errors import ErrorCode


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_REQUEST, message)
