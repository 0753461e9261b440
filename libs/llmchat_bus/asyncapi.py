"""AsyncAPI 3.0 documents of the services' brokers, written to ``docs/asyncapi/``
(``make asyncapi``; a test fails when the committed ones are stale).

FastStream builds each document from the service's broker, never connected: a channel per
subscriber (subject, queue group) and per publisher. FastStream 0.7.8 derives payload
schemas through pydantic, which cannot read msgspec Structs (and the handlers take raw
bytes), so the payloads are filled in here from msgspec's JSON Schema: the payload type
each subscriber and publisher was declared with (``ServiceBroker.payloads``), and for a
request-reply route its request Struct and a reply channel carrying ``Reply[<what the
domain function returns>]`` (the reply goes to the caller's inbox, so its address is
dynamic: null). What the service publishes with nats-py (``ServiceBroker.sends``: chunks,
events through the outbox, heartbeats) is added as ``<subject>:nats-py`` channels with a
``send`` operation, so the document still says who publishes what.

Usage: ``python -m llmchat_bus.asyncapi OUT_DIR NAME=module:function ...``, each function
returning the service's broker, or its ``RpcServer``, as described (never connected,
nothing started, no handler called).
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
from urllib.parse import unquote

import msgspec
from faststream.specification import AsyncAPI

from contracts.rpc import Reply
from llmchat_bus.broker import ServiceBroker
from llmchat_bus.rpc import Route, RpcServer

SCHEMAS = "#/components/schemas/{name}"

Described = RpcServer | ServiceBroker
"""What a service's ``described`` function returns: its broker, or the RpcServer on it."""


def reply_type(route: Route) -> Any:
    """What the route's domain function returns, read from its annotations."""
    return typing.get_type_hints(route.handle)["return"]


def parts(described: Described) -> tuple[ServiceBroker, list[Route]]:
    """The service's broker and its request-reply routes (none without an RpcServer)."""
    if isinstance(described, RpcServer):
        return described.broker, described.routes
    return described, []


def service_document(described: Described, title: str) -> dict[str, Any]:
    """The AsyncAPI document of the service's broker: its subscribers (request-reply
    routes with their replies), its publishers, and what it sends with nats-py."""
    broker, routes = parts(described)
    spec = AsyncAPI(broker, title=title, version="1", schema_version="3.0.0")
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    by_subject = {r.subject: r for r in routes}
    payload_types = [_payloads(r) for r in routes]
    types = [t for _, request, reply in payload_types for t in (request, reply)]
    types += [*broker.payloads.values(), *(sent.payload for sent in broker.sent)]
    shapes, schemas = msgspec.json.schema_components(types, ref_template=SCHEMAS)
    payload = dict(zip(map(_key, types), shapes, strict=True))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, channel in sorted(document["channels"].items()):
        address = channel["address"]
        r = by_subject.get(address)
        if r is None and address not in broker.payloads:
            raise ValueError(f"{address}: a described subscriber needs its payload type")
        shape = payload[_key(r.request if r is not None else broker.payloads[address])]
        for message in channel["messages"].values():
            key = unquote(message["$ref"].rsplit("/", 1)[1])  # a wildcard's * is %2A
            messages[key] = {**document["components"]["messages"][key], "payload": shape}
        channels[name] = channel
        operations[name] = document["operations"][name]
        if r is not None:
            reply_name = f"{r.subject}:reply"
            messages[reply_name] = {
                "title": reply_name,
                "payload": payload[_key(_payloads(r)[2])],
            }
            channels[reply_name] = {
                "address": None,
                "messages": {"Reply": {"$ref": f"#/components/messages/{reply_name}"}},
            }
            operations[name] = {
                **operations[name],
                "reply": {
                    "channel": {"$ref": f"#/channels/{reply_name}"},
                    "messages": [{"$ref": f"#/channels/{reply_name}/messages/Reply"}],
                },
            }
    for sent in sorted(broker.sent, key=lambda s: s.subject):
        name = f"{sent.subject}:nats-py"
        messages[name] = {"title": name, "payload": payload[_key(sent.payload)]}
        channels[name] = {
            "address": sent.subject,
            "description": sent.description,
            "messages": {"Message": {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"nats": {"subject": sent.subject, "bindingVersion": "custom"}},
        }
        operations[name] = {
            "action": "send",
            "description": sent.description,
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/Message"}],
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


def _key(cls: Any) -> str:
    """A key for a payload type (a generic such as ``Reply[UserView]`` or a union too)."""
    return repr(cls)


def encoded(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def described(spec: str) -> Callable[[], Described]:
    """``module:function`` -> the function."""
    module, _, function = spec.partition(":")
    found: Callable[[], Described] = getattr(importlib.import_module(module), function)
    return found


def write_documents(out_dir: Path, services: dict[str, Callable[[], Described]]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, server in services.items():
        path = out_dir / f"{name}.json"
        path.write_text(encoded(service_document(server(), name)), encoding="utf-8")
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
