"""Requests whose headers are too large are refused before any other work: 431."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Receive, Scope, Send

HEADERS_TOO_LARGE = 431


class HeaderSizeLimit:
    """431 (the usual JSON error body) for a request whose header names and values add up
    to more than ``max_bytes``; the HTTP server reads headers of any size first."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                raise HTTPException(
                    status_code=HEADERS_TOO_LARGE,
                    detail=f"the request's headers are {size} bytes; the limit is {self.max_bytes}",
                )
        await self.app(scope, receive, send)
