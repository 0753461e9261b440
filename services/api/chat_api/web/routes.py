"""``GET /`` and every path the api does not route: a file of the built web app, or its
``index.html`` for the app's own paths (the SPA fallback).

The fallback never answers under the api's own prefixes: an unknown ``/api/...`` or
``/v1/...`` path stays a JSON 404, so a client bug does not come back as an HTML page.
A path that names a file (it has an extension) and is missing is a 404 too, so a stale
asset after a deploy fails visibly instead of being parsed as HTML.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from litestar import Router, get
from litestar.response import File

from chat_api.errors import ApiError
from contracts.errors import ErrorCode

RESERVED_PREFIXES = ("api", "v1", "metrics", "healthz", "readyz", "schema")
"""First path segments that belong to the api, never to the web app."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""Vite names every file under ``assets/`` by its content hash."""
REVALIDATE = "no-cache"
"""``index.html`` and unhashed files: always asked again (cheap: ETag / Last-Modified)."""


def _not_found(path: str) -> ApiError:
    return ApiError(404, ErrorCode.NOT_FOUND, f"no route for /{path}")


def resolve(root: Path, path: str) -> tuple[Path, str]:
    """The file answering ``path`` under ``root`` and its Cache-Control, or ApiError 404."""
    relative = path.strip("/")
    first = relative.split("/", 1)[0]
    if first in RESERVED_PREFIXES:
        raise _not_found(relative)
    if relative:
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root):
            raise _not_found(relative)
        if candidate.is_file():
            cache = IMMUTABLE if relative.startswith("assets/") else REVALIDATE
            return candidate, cache
        if "." in relative.rsplit("/", 1)[-1]:
            raise _not_found(relative)
    return root / "index.html", REVALIDATE


def web_app_router(web_dir: Path) -> Router:
    root = web_dir.resolve()

    @get(
        ["/", "/{path:path}"],
        include_in_schema=False,
        sync_to_thread=False,
        exclude_from_auth=True,
    )
    def web_app(path: str = "") -> File:
        file, cache = resolve(root, path)
        return File(
            file,
            filename=file.name,
            media_type=mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            content_disposition_type="inline",
            headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
        )

    return Router(path="/", route_handlers=[web_app])
