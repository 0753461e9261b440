"""Structured logs: the JSON lines actually written, masking of every kind of secret and
personal data, the request log line with the plan's fields, message sampling."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

import structured_logs
from chat_api.app import create_app
from chat_api.auth import issue_token
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from inference_worker.settings import load_settings as load_worker_settings
from metering.settings import load_settings as load_metering_settings
from model_admin.settings import load_settings as load_model_admin_settings
from persistence.settings import SettingsError as PersistenceSettingsError
from persistence.settings import load_settings as load_persistence_settings
from tests.api.conftest import SECRET
from tests.api.fake_gateway import FakeGateway, answer

log = logging.getLogger("tests.logging")


class Captured:
    """What the root handler wrote, one parsed JSON object per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured() -> Iterator[Captured]:
    stream = io.StringIO()
    handler = structured_logs.configure_logging("INFO", "json", stream)
    yield Captured(stream)
    logging.getLogger().removeHandler(handler)


JWT = issue_token(SECRET, "u-123", role="admin")
API_KEY = "sk-llmchat-" + secrets.token_urlsafe(24)

# (what, text with the secret, the secret itself, what stands in its place)
SECRETS = [
    ("jwt", f"token {JWT} accepted", JWT, "[jwt]"),
    ("api key", f"key {API_KEY} verified", API_KEY, "[api-key]"),
    ("bearer header", "Authorization: Bearer opaque-token-9f8e7d6c", "opaque-token", "[token]"),
    ("basic header", "authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "[token]"),
    ("password=", "login failed password=hunter2! for", "hunter2", "password=[secret]"),
    ("password json", '{"email": "x", "password": "Tr0ub4dor&3"}', "Tr0ub4dor", "[secret]"),
    ("env secret", "ADMIN_PASSWORD=s3cr3t-pw JWT_SECRET=abc123xyz", "s3cr3t-pw", "[secret]"),
    ("refresh token", "refresh_token=rt-5f4dcc3b5aa765d6", "rt-5f4dcc3b5aa765d6", "[secret]"),
    ("url credentials", "db postgresql+asyncpg://llm:pa55word@db:5432/llm", "pa55word", "[cre"),
    ("e-mail", "welcome Jane.Doe+chat@example.co.kr!", "Jane.Doe", "[email]"),
    ("e-mail localhost", "created admin@localhost", "admin@localhost", "[email]"),
    ("phone us", "call (555) 123-4567 now", "123-4567", "[phone]"),
    ("phone intl", "call +1 555 123 4567 now", "555 123 4567", "[phone]"),
    ("phone kr mobile", "연락처 010-1234-5678 입니다", "1234-5678", "[phone]"),
    ("phone kr compact", "연락처 01012345678", "01012345678", "[phone]"),
    ("phone e164", "sms to +821012345678", "821012345678", "[phone]"),
    ("phone seoul", "office 02-123-4567", "123-4567", "[phone]"),
    ("phone dots", "fax 555.123.4567", "555.123.4567", "[phone]"),
    ("phone uk", "ring +44 20 7946 0958", "7946 0958", "[phone]"),
]

NOT_SECRETS = [
    "request_id=4f1c2a9b8e7d6c5b4a39281706f5e4d3 user_id=dev-admin model=gemma3-270m",
    "at 2026-01-15 12:34:56 from 10.0.0.1 version 1.2.3",
    "uuid 123e4567-e89b-12d3-a456-426614174000 epoch 1700000000 latency 12.345",
    "max_tokens=64 input_tokens=12 output_tokens=30 token_type=bearer",
]


@pytest.mark.parametrize(
    ("text", "secret", "placeholder"),
    [case[1:] for case in SECRETS],
    ids=[case[0] for case in SECRETS],
)
def test_each_kind_is_masked_in_the_emitted_line(
    captured: Captured, text: str, secret: str, placeholder: str
) -> None:
    log.info("event: %s", text)  # in an argument
    log.warning(text)  # in the message itself
    log.info("with fields", extra={"detail": text, "nested": {"items": [text]}})
    try:
        raise ValueError(text)
    except ValueError:
        log.exception("failed")
    written = captured.text()
    assert secret not in written
    assert written.count(placeholder) >= 5
    first = captured.lines()[0]
    assert first["message"] == "event: " + structured_logs.mask(text)
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.logging"


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_fields_are_not_masked(captured: Captured, text: str) -> None:
    log.info(text)
    assert captured.lines()[0]["message"] == text


def test_text_format(captured: Captured) -> None:
    stream = io.StringIO()
    handler = structured_logs.configure_logging("INFO", "text", stream)
    try:
        log.info("done for %s", "a@b.io", extra={"request_id": "r1", "status_code": 200})
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.endswith("INFO tests.logging done for [email] request_id=r1 status_code=200")
    assert captured.text() == ""  # the JSON handler it replaced writes nothing any more


def _request_lines(captured: Captured) -> list[dict[str, Any]]:
    return [line for line in captured.lines() if line["logger"] == "chat_api.requests"]


PROMPT = "my number is 010-9876-5432 and I wonder about the sea"


def test_request_line_carries_the_plans_fields(
    settings: ApiSettings, auth_headers: dict[str, str]
) -> None:
    gateway = FakeGateway(script=answer("Hel", "lo"))
    service = ChatService(settings, gateway, StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        stream = io.StringIO()
        handler = structured_logs.configure_logging("INFO", "json", stream)  # after create_app
        try:
            body = {"messages": [{"role": "user", "content": PROMPT}], "system_prompt": "brief"}
            response = client.post("/api/chat", json=body, headers=auth_headers)
            assert response.status_code == 200
            assert client.get("/api/me").status_code == 401
        finally:
            logging.getLogger().removeHandler(handler)
    lines = _request_lines(Captured(stream))
    chat, unauthorized = lines
    assert chat["request_id"] == response.headers["x-request-id"]
    assert chat["user_id"] == "u1"
    assert chat["model"] == "gemma3-270m"
    assert chat["ctx_len"] == len(PROMPT) + len("brief")
    assert (chat["input_tokens"], chat["output_tokens"]) == (3, 2)
    assert chat["status_code"] == 200
    assert chat["outcome"] == "stop"
    assert chat["latency_ms"] >= 0
    assert chat["ttft_ms"] >= 0
    assert (chat["method"], chat["route"]) == ("POST", "/api/chat")
    assert "sampled_message" not in chat
    assert "sea" not in stream.getvalue()  # message text is not logged
    assert unauthorized["status_code"] == 401
    assert unauthorized["user_id"] is None


def test_sampled_messages_are_masked(settings: ApiSettings, auth_headers: dict[str, str]) -> None:
    settings = replace(settings, log_sample_messages=1.0)
    service = ChatService(settings, FakeGateway(), StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        stream = io.StringIO()
        handler = structured_logs.configure_logging("INFO", "json", stream)
        try:
            body = {"model": "gemma3-270m", "messages": [{"role": "user", "content": PROMPT}]}
            assert client.post("/v1/chat/completions", json=body, headers=auth_headers).is_success
        finally:
            logging.getLogger().removeHandler(handler)
    (line,) = _request_lines(Captured(stream))
    assert line["sampled_message"] == "my number is [phone] and I wonder about the sea"
    assert "9876" not in stream.getvalue()
    assert line["route"] == "/v1/chat/completions"


def test_log_settings_of_every_service() -> None:
    api = ApiSettings.from_env({"JWT_SECRET": "x" * 32, "LOG_FORMAT": "TEXT"})
    assert (api.log_format, api.log_sample_messages) == ("text", 0.0)
    assert ApiSettings.from_env({"JWT_SECRET": "x" * 32}).log_format == "json"
    for bad in ({"LOG_FORMAT": "xml"}, {"LOG_SAMPLE_MESSAGES": "2"}):
        with pytest.raises(ValueError, match="LOG_"):
            ApiSettings.from_env({"JWT_SECRET": "x" * 32, **bad})
    worker = load_worker_settings({"LOG_FORMAT": "text", "LOG_LEVEL": "debug"})
    assert (worker.log_format, worker.log_level) == ("text", "DEBUG")
    assert load_persistence_settings({}).log_format == "json"
    with pytest.raises(PersistenceSettingsError, match="LOG_FORMAT"):
        load_persistence_settings({"LOG_FORMAT": "xml"})
    for load in (load_metering_settings, load_model_admin_settings):
        assert (load({}).log_format, load({}).log_level) == ("json", "INFO")
        chosen = load({"LOG_FORMAT": " Text ", "LOG_LEVEL": "warning"})
        assert (chosen.log_format, chosen.log_level) == ("text", "WARNING")
        with pytest.raises(ValueError, match="LOG_FORMAT='xml'"):
            load({"LOG_FORMAT": "xml"})


def test_the_running_app_writes_json_lines_for_every_logger(
    settings: ApiSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Litestar's default logging config would replace the root handler with a text one."""
    service = ChatService(settings, FakeGateway(), StreamTable())
    with TestClient(app=create_app(settings, chat_service=service)) as client:
        assert client.get("/healthz").status_code == 200
        logging.getLogger("chat_api.lifespan").warning("service line")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert ("chat_api.lifespan", "service line") in {(ln["logger"], ln["message"]) for ln in lines}
    assert not [line for line in err.splitlines() if line and not line.startswith("{")]


def test_probes_are_quiet_even_when_not_ready(settings: ApiSettings) -> None:
    """/readyz answers 503 while no worker is ready (every poll of a launcher or kubelet
    during an engine load): that is its answer, logged at DEBUG, never as a warning."""
    gateway = FakeGateway(live_models=())
    service = ChatService(settings, gateway, StreamTable())
    with TestClient(
        app=create_app(settings, chat_service=service), raise_server_exceptions=False
    ) as client:
        stream = io.StringIO()
        handler = structured_logs.configure_logging("INFO", "json", stream)
        try:
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
        finally:
            logging.getLogger().removeHandler(handler)
    assert _request_lines(Captured(stream)) == []
