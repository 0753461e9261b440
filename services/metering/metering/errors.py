"""``DomainError``: a refusal the caller should see, carrying a wire ``ErrorCode``."""

from __future__ import annotations

from contracts.errors import ErrorCode
from llmchat_bus.rpc import RequestRefused


class DomainError(RequestRefused):
    """Answered by the request-reply server as ``Reply(error=RpcError(code, message))``."""


def invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_REQUEST, message)
