"""Typed readers of environment variables: how every service turns env into settings.

Each service builds its settings object once, at start-up, from a mapping (``os.environ``
or a test's dict) with these readers. An unset or blank (only whitespace) variable gives
the default. A value that does not parse, or is out of bounds, raises ``SettingsError``
naming the variable and the value (``GATEWAY_PORT='abc': expected an integer``); each
service's ``__main__`` prints that one line and exits with status 2, no traceback.

One package for all services: what counts as blank, true or a usable number is one policy,
and a private copy per service drifted (one treated ``"  "`` as a value, one read numbers
with bare ``int()`` and ended in a traceback naming no variable). ``env_nats_url`` and
``env_otel_traces`` read the variables the NATS services share, checked the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "FALSE",
    "NATS_URL_SCHEMES",
    "OTLP_PROTOCOLS",
    "TRACE_EXPORTERS",
    "TRUE",
    "SettingsError",
    "env_bool",
    "env_float",
    "env_int",
    "env_nats_url",
    "env_opt",
    "env_otel_traces",
    "env_str",
]

TRUE = frozenset({"1", "true", "yes", "on"})
"""Spellings of true (after strip and lower-casing)."""
FALSE = frozenset({"0", "false", "no", "off"})
"""Spellings of false (after strip and lower-casing)."""


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """The value as given, or None when unset or blank."""
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw


def env_opt(env: Mapping[str, str], name: str) -> str | None:
    """The stripped value, or None when unset or blank."""
    raw = _raw(env, name)
    return None if raw is None else raw.strip()


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    """The stripped value, or ``default`` when unset or blank."""
    value = env_opt(env, name)
    return default if value is None else value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); unset or blank: ``default``."""
    raw = _raw(env, name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise SettingsError(f"{name}={raw!r}: expected true/false")


def env_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = 1,
    maximum: int | None = None,
) -> int:
    """An integer in ``minimum..maximum`` (None: no bound); unset or blank: ``default``."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected an integer") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name}={raw!r}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={raw!r}: must be <= {maximum}")
    return value


def env_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    strict_min: bool = True,
    finite: bool = False,
) -> float:
    """A number above ``minimum`` (``>=`` with ``strict_min=False``; None: no lower bound)
    and at most ``maximum``; unset or blank: ``default``. NaN is never accepted, infinity
    only without a ``maximum`` and with ``finite=False``."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if math.isnan(value):
        raise SettingsError(f"{name}={raw!r}: expected a number")
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        raise SettingsError(f"{name}={raw!r}: must be {'>' if strict_min else '>='} {minimum:g}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={raw!r}: must be <= {maximum:g}")
    if finite and math.isinf(value):
        raise SettingsError(f"{name}={raw!r}: must be finite")
    return value


# The variables every NATS service reads the same way.

NATS_URL_SCHEMES = ("nats://", "tls://", "ws://", "wss://")
TRACE_EXPORTERS = ("none", "otlp", "console")
"""Values of ``OTEL_TRACES_EXPORTER`` a service understands (``none``: no tracing)."""
OTLP_PROTOCOLS = ("http/protobuf", "grpc")


def env_nats_url(env: Mapping[str, str]) -> str:
    """``NATS_URL`` (default ``nats://127.0.0.1:4222``), checked to be a NATS URL."""
    nats_url = env_str(env, "NATS_URL", "nats://127.0.0.1:4222")
    if not nats_url.startswith(NATS_URL_SCHEMES):
        raise SettingsError(f"NATS_URL={nats_url!r}: expected a nats:// (or tls://) URL")
    return nats_url


def env_otel_traces(env: Mapping[str, str]) -> tuple[str, str]:
    """``OTEL_TRACES_EXPORTER`` (lower-cased, default ``none``) and the OTLP protocol
    (``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, else ``OTEL_EXPORTER_OTLP_PROTOCOL``, default
    ``http/protobuf``), each checked against what the services support."""
    exporter = env_str(env, "OTEL_TRACES_EXPORTER", "none").lower()
    if exporter not in TRACE_EXPORTERS:
        raise SettingsError(
            f"OTEL_TRACES_EXPORTER={exporter!r}: expected one of {', '.join(TRACE_EXPORTERS)}"
        )
    protocol = (
        env_opt(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env_opt(env, "OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol not in OTLP_PROTOCOLS:
        raise SettingsError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected one of {', '.join(OTLP_PROTOCOLS)}"
        )
    return exporter, protocol
