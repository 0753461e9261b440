"""docs/asyncapi/: regenerated as ``make asyncapi`` does (the services it reads from the
Makefile), it must equal what is committed; every route is there with its request and
reply schemas, every other subscriber and publisher with its payload, and what a service
publishes with nats-py as a send operation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from llmchat_bus.asyncapi import described, parts, reply_type, write_documents

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "asyncapi"


def documented_services() -> dict[str, str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^ASYNCAPI_SERVICES := (.+)$", makefile, re.MULTILINE)
    assert found is not None, "ASYNCAPI_SERVICES is not in the Makefile"
    return dict(item.split("=", 1) for item in found.group(1).split())


def test_the_committed_documents_are_current(tmp_path: Path) -> None:
    services = {name: described(spec) for name, spec in documented_services().items()}
    written = write_documents(tmp_path, services)
    stale = [
        path.name
        for path in written
        if not (DOCS / path.name).is_file()
        or (DOCS / path.name).read_text(encoding="utf-8") != path.read_text(encoding="utf-8")
    ]
    extra = sorted({p.name for p in DOCS.glob("*.json")} - {p.name for p in written})
    if stale or extra:
        pytest.fail(
            f"docs/asyncapi/ is stale ({', '.join(stale + extra)}): run `make asyncapi`",
            pytrace=False,
        )


def test_every_service_is_documented() -> None:
    assert {"persistence", "metering", "model_admin", "api", "inference_worker"} <= set(
        documented_services()
    )


@pytest.mark.parametrize("name", ["persistence", "metering", "model_admin"])
def test_every_route_has_its_request_and_reply(name: str) -> None:
    _, routes = parts(described(documented_services()[name])())
    document = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    assert routes
    for r in routes:
        operation = document["operations"][r.subject]
        assert operation["action"] == "receive"
        channel = document["channels"][r.subject]
        assert channel["bindings"]["nats"]["queue"]  # the service's queue group
        [request] = channel["messages"].values()
        request_payload = messages[request["$ref"].rsplit("/", 1)[1]]["payload"]["$ref"]
        assert r.request is not None
        assert request_payload == f"#/components/schemas/{r.request.__name__}"
        reply_channel = operation["reply"]["channel"]["$ref"].rsplit("/", 1)[1]
        [reply] = document["channels"][reply_channel]["messages"].values()
        reply_payload = messages[reply["$ref"].rsplit("/", 1)[1]]["payload"]["$ref"]
        assert reply_payload == f"#/components/schemas/Reply_{reply_type(r).__name__}_"
        assert reply_payload.rsplit("/", 1)[1] in schemas


@pytest.mark.parametrize("name", sorted(documented_services()))
def test_every_subscriber_publisher_and_nats_py_send_has_its_payload(name: str) -> None:
    broker, routes = parts(described(documented_services()[name])())
    document = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    addressed = {c["address"] for c in document["channels"].values()}
    actions = [operation["action"] for operation in document["operations"].values()]
    assert actions.count("receive") == len(broker.subscribers)
    assert actions.count("send") == len(broker.publishers) + len(broker.sent)
    assert set(broker.payloads) <= addressed
    for subject, payload in broker.payloads.items():
        described_as = [
            messages[unquote(m["$ref"].rsplit("/", 1)[1])]["payload"]
            for c in document["channels"].values()
            if c["address"] == subject
            for m in c["messages"].values()
        ]
        assert described_as
        assert all(p == {"$ref": f"#/components/schemas/{payload.__name__}"} for p in described_as)
    for sent in broker.sent:
        name = f"{sent.subject}:nats-py"
        assert document["operations"][name]["action"] == "send"
        assert "nats-py" in document["channels"][name]["description"]
        payload = messages[name]["payload"]
        refs = [payload["$ref"]] if "$ref" in payload else [a["$ref"] for a in payload["anyOf"]]
        assert all(ref.rsplit("/", 1)[1] in schemas for ref in refs)
    assert broker.payloads or routes


def test_the_worker_and_api_documents_say_who_publishes_what() -> None:
    worker = json.loads((DOCS / "inference_worker.json").read_text(encoding="utf-8"))
    api = json.loads((DOCS / "api.json").read_text(encoding="utf-8"))
    assert worker["operations"]["inference.cancel.v1.*"]["action"] == "receive"
    assert worker["operations"]["inference.chunks.v1.>:nats-py"]["action"] == "send"
    assert worker["operations"]["inference.workers.v1.heartbeat.*:nats-py"]["action"] == "send"
    assert api["operations"]["api.v1.relay-cancel.*"]["action"] == "receive"
    assert api["operations"]["api.v1.relay-watch.*:publish"]["action"] == "send"
    assert "queue" not in api["channels"]["inference.workers.v1.heartbeat.*"]["bindings"]["nats"]
