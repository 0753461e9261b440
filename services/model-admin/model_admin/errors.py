"""``AdminError``: a refusal with a wire error code, raised by the domain, answered by rpc."""

from __future__ import annotations

from contracts.errors import ErrorCode


class AdminError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
