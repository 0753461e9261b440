"""``AdminError``: a refusal with a wire error code, raised by the domain, answered by rpc."""

from __future__ import annotations

from llmchat_bus.rpc import RequestRefused


class AdminError(RequestRefused):
    """Answered by the request-reply server as ``Reply(error=RpcError(code, message))``."""
