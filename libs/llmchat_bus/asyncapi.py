"""AsyncAPI 3.0 documents of the request-reply servers, written to ``docs/asyncapi/``
(``make asyncapi``; a test fails when the committed ones are stale).

FastStream builds each document from the service's broker, never connected: a channel per
subject with its queue group, a ``receive`` operation per route. FastStream 0.7.8 derives
payload schemas through pydantic, which cannot read msgspec Structs (and the handlers take
raw bytes), so the payloads are filled in here from msgspec's JSON Schema: the route's
request Struct, and a reply channel per route carrying ``Reply[<what the domain function
returns>]`` (the reply goes to the caller's inbox, so its address is dynamic: null).

Usage: ``python -m llmchat_bus.asyncapi OUT_DIR NAME=module:function ...``, each function
returning the service's ``RpcServer`` as described (its routes are never called).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from faststream.specification import AsyncAPI

from contracts.rpc import Reply
from llmchat_bus.rpc import Route, RpcServer

SCHEMAS = "#/components/schemas/{name}"


def reply_type(route: Route) -> Any:
    """What the route's domain function returns, read from its annotations."""
    return typing.get_type_hints(route.handle)["return"]


def rpc_document(server: RpcServer, title: str) -> dict[str, Any]:
    """The AsyncAPI document of ``server``'s routes, payloads and replies included."""
    spec = AsyncAPI(server.broker, title=title, version="1", schema_version="3.0.0")
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    described = [_payloads(r) for r in sorted(server.routes, key=lambda r: r.subject)]
    _, schemas = msgspec.json.schema_components(
        [t for _, request, reply in described for t in (request, reply)], ref_template=SCHEMAS
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    found = {c["address"]: (name, c) for name, c in document["channels"].items()}
    for r, request, reply in described:
        name, channel = found[r.subject]
        [request_message] = channel["messages"].values()
        request_key = request_message["$ref"].rsplit("/", 1)[1]
        messages[request_key] = {
            **document["components"]["messages"][request_key],
            "payload": {"$ref": _ref(request)},
        }
        reply_name = f"{r.subject}:reply"
        messages[reply_name] = {"title": reply_name, "payload": {"$ref": _ref(reply)}}
        channels[name] = channel
        channels[reply_name] = {
            "address": None,
            "messages": {"Reply": {"$ref": f"#/components/messages/{reply_name}"}},
        }
        operation = document["operations"][name]
        operations[name] = {
            **operation,
            "reply": {
                "channel": {"$ref": f"#/channels/{reply_name}"},
                "messages": [{"$ref": f"#/channels/{reply_name}/messages/Reply"}],
            },
        }
    document["channels"] = channels
    document["operations"] = operations
    document["components"] = {"messages": messages, "schemas": dict(sorted(schemas.items()))}
    return document


def _payloads(route: Route) -> tuple[Route, Any, Any]:
    """The route, its request Struct and its reply's type."""
    if route.request is None:
        raise ValueError(f"{route.subject}: a described route needs its request Struct")
    return route, route.request, Reply[reply_type(route)]  # type: ignore[misc]


def _ref(cls: Any) -> str:
    """The ``$ref`` msgspec gives ``cls`` (a generic such as ``Reply[UserView]`` too)."""
    ref: str = msgspec.json.schema(cls, ref_template=SCHEMAS)["$ref"]
    return ref


def encoded(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def described(spec: str) -> Callable[[], RpcServer]:
    """``module:function`` -> the function."""
    module, _, function = spec.partition(":")
    found: Callable[[], RpcServer] = getattr(importlib.import_module(module), function)
    return found


def write_documents(out_dir: Path, services: dict[str, Callable[[], RpcServer]]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, server in services.items():
        path = out_dir / f"{name}.json"
        path.write_text(encoded(rpc_document(server(), name)), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmchat_bus.asyncapi")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("services", nargs="+", metavar="NAME=module:function")
    args = parser.parse_args(argv)
    services = {}
    for item in args.services:
        name, _, spec = item.partition("=")
        services[name] = described(spec)
    for path in write_documents(args.out_dir, services):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
