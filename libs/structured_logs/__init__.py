"""Structured logs of every service: one JSON object per line (or text), every record masked.

``configure_logging`` puts ONE handler on the root logger, so every logger (ours,
uvicorn's, nats') goes through ``MaskingFilter`` and the formatter. Masked before a
record is written: JWTs, API keys (``sk-...``), bearer / basic credentials, secrets in
``key=value`` / ``"key": "value"`` form (password, token, secret, api_key, ...), URL
credentials, e-mail addresses and phone numbers (international, Korean and North
American forms, with or without separators). Message text is never logged by this code
unless sampling is on (``LOG_SAMPLE_MESSAGES``), and then it goes through the same mask.

JSON line: ``{"ts", "level", "logger", "message", ...extra fields, "exc"?}``; extra
fields are what the call passed in ``extra=`` (the request log's request_id, user_id,
model, ...) and, when an OpenTelemetry span is current, ``trace_id`` and ``span_id`` (hex,
as trace backends show them), so a line leads to its trace; without a span they are
absent. One package for all services: what is masked is one policy, and three
copies of it (one per service) would drift.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TextIO

import msgspec
from opentelemetry import trace

from env_settings import SettingsError, env_str

LogFormat = Literal["json", "text"]

_Replacement = str | Callable[[re.Match[str]], str]

MASKS: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    # JSON Web Tokens: three base64url parts, the first a JSON object ("eyJ").
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    # API keys: ours (sk-llmchat-...) and the OpenAI-style ones.
    (re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_-]{7,}"), "[api-key]"),
    # Authorization header values.
    (re.compile(r"(?i)(?<![\w=])(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1\2[token]"),
    # user:password@ in URLs (postgresql://, redis://, nats://).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]+@"), r"\1[credentials]@"),
    # key=value, key: value, "key": "value" for secret-looking keys (ADMIN_PASSWORD,
    # jwt_secret, api-key, refresh_token, ...; not max_tokens or token_type).
    (
        re.compile(
            r"(?i)\b(\w*?(?:password|passwd|pwd|secret|secret[_-]?key|api[_-]?key|token))"
            r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"'&,;}\]]+)"
        ),
        r"\1\2[secret]",
    ),
    # E-mail addresses (also user@localhost).
    (re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*"), "[email]"),
    # Phone numbers with separators: +1 (555) 123-4567, 555.123.4567, +82 10-1234-5678,
    # 010-1234-5678, 02-123-4567, +44 20 7946 0958.
    (
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?|\d{1,4}[\s.-])"
            r"\d{3,4}[\s.-]\d{4}(?!\w)"
        ),
        "[phone]",
    ),
    # Phone numbers without separators: E.164 (+821012345678) and Korean mobiles.
    (re.compile(r"(?<![\w+])(?:\+\d{10,14}|01[016789]\d{7,8})(?!\w)"), "[phone]"),
)


_MAYBE_SENSITIVE = re.compile(r"[@=:]|eyJ|sk-|(?i:bearer|basic)|\d{4}")
"""Something every pattern above needs (one scan instead of eight for most strings)."""


def mask(text: str) -> str:
    """``text`` with every secret, e-mail address and phone number replaced."""
    if _MAYBE_SENSITIVE.search(text) is None:
        return text
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the logging call passed in ``extra=``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class MaskingFilter(logging.Filter):
    """Masks the message, its arguments, extra fields and exception text in place."""

    _exceptions = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        for key, value in extra_fields(record).items():
            if isinstance(value, str | dict | list | tuple):
                setattr(record, key, _mask_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exceptions.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` / ``span_id`` of the current span (if any) to the record. Runs
    where the record was logged (handlers are called in the logging call), so the
    current span is the logging code's; one context-variable read per record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        return True


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return msgspec.json.encode(payload, enc_hook=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if not fields:
            return line
        head, sep, tail = line.partition("\n")
        pairs = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return f"{head} {pairs}{sep}{tail}"


_HANDLER_MARK = "_llmchat_structured"


def dict_config(level: str, fmt: LogFormat, loggers: Sequence[str]) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` giving ``loggers`` this package's masking and format
    on stderr (not propagated), for libraries that set up their own loggers from a
    config file in processes of their own (vLLM's engine processes read
    ``VLLM_LOGGING_CONFIG_PATH``)."""
    formatter = (
        "structured_logs.JsonFormatter" if fmt == "json" else "structured_logs.TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "mask": {"()": "structured_logs.MaskingFilter"},
            "trace": {"()": "structured_logs.TraceContextFilter"},
        },
        "formatters": {"structured": {"()": formatter}},
        "handlers": {
            "structured": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["mask", "trace"],
                "formatter": "structured",
            }
        },
        "loggers": {
            name: {"handlers": ["structured"], "level": level.upper(), "propagate": False}
            for name in loggers
        },
    }


def log_settings_from_env(env: Mapping[str, str]) -> tuple[str, LogFormat]:
    """``LOG_LEVEL`` (default INFO) and ``LOG_FORMAT`` (``json``, the default, or
    ``text``): the same two variables in every service. A bad format is ``SettingsError``."""
    level = env_str(env, "LOG_LEVEL", "INFO").upper()
    raw = env_str(env, "LOG_FORMAT", "json").lower()
    if raw == "json":
        return level, "json"
    if raw == "text":
        return level, "text"
    raise SettingsError(f"LOG_FORMAT={raw!r}: expected json or text")


def configure_logging(
    level: str | int = "INFO", fmt: LogFormat = "json", stream: TextIO | None = None
) -> logging.Handler:
    """Replace the handler this function installed before (if any) on the root logger."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(MaskingFilter())
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
