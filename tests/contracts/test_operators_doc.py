"""docs/operators.md against contracts/: every payload example decodes with the type it
names, and every stream, consumer, KV bucket and subject in its commands exists."""

from __future__ import annotations

import importlib
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contracts import subjects

DOC = Path(__file__).resolve().parents[2] / "docs" / "operators.md"
EXAMPLE = re.compile(r"<!-- payload: ([\w.]+) -->\n```json\n(.*?)\n```", re.S)
TOKEN = "[A-Za-z0-9_-]+"


def _examples() -> list[tuple[str, str]]:
    found = [(m.group(1), m.group(2)) for m in EXAMPLE.finditer(DOC.read_text())]
    assert len(found) >= 12, "the payload examples are no longer found"
    return found


def _type(path: str) -> Any:
    module, _, name = path.rpartition(".")
    found = getattr(importlib.import_module(module), name)
    return found[Any] if name == "Reply" else found


@pytest.mark.parametrize(("type_path", "payload"), _examples(), ids=lambda v: str(v)[:40])
def test_payload_example_decodes_with_its_contracts_type(type_path: str, payload: str) -> None:
    message = msgspec.json.decode(payload.encode(), type=_type(type_path))
    assert msgspec.json.decode(payload.encode()) != {}
    assert message is not None


def _commands() -> list[list[str]]:
    text = DOC.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("nats ")]


def _subject_patterns() -> list[re.Pattern[str]]:
    """Every subject contracts defines: constants (wildcards kept) and the builders with a
    token in place of their argument."""
    known: list[str] = []
    for name in dir(subjects):
        value = getattr(subjects, name)
        if isinstance(value, str) and "." in value and not name.startswith("_"):
            known.append(re.escape(value).replace(r"\*", r"\*").replace(r"\>", ">"))
        elif callable(value) and name.endswith(("_subject", "_subjects")):
            tokens = ["TOKEN"] * len(inspect.signature(value).parameters)
            known.append(re.escape(value(*tokens)).replace("TOKEN", TOKEN))
    return [re.compile(f"^{pattern}$") for pattern in known]


def test_streams_consumers_buckets_and_subjects_are_the_contracts_ones() -> None:
    streams = {
        subjects.REQUESTS_STREAM,
        subjects.CHUNKS_STREAM,
        subjects.EVENTS_STREAM,
        subjects.ADMIN_STREAM,
    }
    consumers = {
        subjects.PERSISTENCE_EVENTS_CONSUMER,
        subjects.METERING_EVENTS_CONSUMER,
        subjects.MODEL_ADMIN_COMMANDS_CONSUMER,
    }
    buckets = {
        subjects.OPEN_CHATS_BUCKET,
        subjects.DESIRED_STATE_BUCKET,
        subjects.WORKER_STATUS_BUCKET,
        subjects.MODEL_ALIASES_BUCKET,
    }
    patterns = _subject_patterns()
    checked = 0
    for words in _commands():
        kind, verb, *rest = [*words[1:], "", ""]
        if kind == "stream" and verb in ("info", "view"):
            assert rest[0] in streams, words
        elif kind == "consumer" and verb in ("info", "ls"):
            assert rest[0] in streams, words
            if verb == "info":
                worker_group = rest[1].startswith(subjects.request_consumer("x")[:-1])
                assert rest[1] in consumers or worker_group, words
        elif kind == "kv":
            assert rest[0] in buckets, words
        elif kind in ("sub", "pub", "req"):
            subject = verb
            assert any(p.match(subject) for p in patterns), f"unknown subject: {words}"
        else:
            continue
        checked += 1
        if "--subject" in words:
            subject = words[words.index("--subject") + 1]
            assert any(p.match(subject) for p in patterns), f"unknown subject: {words}"
    assert checked >= 25


def test_published_payloads_in_commands_decode() -> None:
    """The JSON an operator sends with `nats pub` / `nats req` is the request type."""
    request_types: dict[str, Any] = {
        subjects.ADMIN_ACTIVATE: "contracts.admin.ActivateRequest",
        subjects.ADMIN_PROFILES_CHECK: "contracts.admin.CheckProfile",
        subjects.ADMIN_ALIAS_SET: "contracts.admin.SetAlias",
        subjects.ADMIN_SWAPS_STATUS: "contracts.admin.SwapStatusQuery",
        subjects.ADMIN_PROFILES_LIST: "contracts.admin.ListProfiles",
        subjects.ADMIN_WORKERS_LIST: "contracts.admin.ListWorkers",
        subjects.USAGE_SUMMARY: "contracts.usage.UsageQuery",
        subjects.PERSISTENCE_PING: "contracts.rpc.Ping",
        subjects.METERING_PING: "contracts.rpc.Ping",
        subjects.ADMIN_PING: "contracts.rpc.Ping",
    }
    sent = 0
    for words in _commands():
        if words[1] not in ("pub", "req") or len(words) < 4:
            continue
        subject, payload = words[2], words[3]
        if subject.startswith(subjects.cancel_subject("x")[:-1]):
            type_path = "contracts.inference.CancelRequest"
        else:
            type_path = request_types[subject]
        msgspec.json.decode(payload.encode(), type=_type(type_path))
        sent += 1
    assert sent >= 10
