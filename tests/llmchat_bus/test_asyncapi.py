"""docs/asyncapi/: regenerated as ``make asyncapi`` does (the services it reads from the
Makefile), it must equal what is committed; and every route is there with its request and
reply schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmchat_bus.asyncapi import described, reply_type, write_documents

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


@pytest.mark.parametrize("name", sorted(documented_services()))
def test_every_route_has_its_request_and_reply(name: str) -> None:
    server = described(documented_services()[name])()
    document = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    assert server.routes
    for r in server.routes:
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
