"""The shared readers: defaults, blank values, bad values, bounds, true/false spellings."""

from __future__ import annotations

import math

import pytest

from env_settings import (
    FALSE,
    TRUE,
    SettingsError,
    env_bool,
    env_float,
    env_int,
    env_nats_url,
    env_opt,
    env_otel_traces,
    env_str,
)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("env", [{}, {"X": ""}, {"X": "  "}, {"X": "\t\n"}])
def test_unset_or_blank_gives_the_default(env: dict[str, str]) -> None:
    assert env_int(env, "X", 7) == 7
    assert env_float(env, "X", 2.5) == 2.5
    assert env_bool(env, "X", True) is True
    assert env_bool(env, "X", False) is False
    assert env_str(env, "X", "d") == "d"
    assert env_opt(env, "X") is None


def test_values_are_read_and_stripped() -> None:
    env = {"I": " 42 ", "F": " 0.25 ", "S": "  text  "}
    assert env_int(env, "I", 1) == 42
    assert env_float(env, "F", 1.0) == 0.25
    assert env_str(env, "S", "d") == "text"
    assert env_opt(env, "S") == "text"


@pytest.mark.parametrize("spelling", sorted(TRUE))
def test_true_spellings(spelling: str) -> None:
    for raw in (spelling, spelling.upper(), f" {spelling.title()} "):
        assert env_bool({"B": raw}, "B", False) is True


@pytest.mark.parametrize("spelling", sorted(FALSE))
def test_false_spellings(spelling: str) -> None:
    for raw in (spelling, spelling.upper(), f" {spelling.title()} "):
        assert env_bool({"B": raw}, "B", True) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_bad_bool_names_the_variable_and_value(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        env_bool({"FLAG": raw}, "FLAG", True)
    assert str(caught.value) == f"FLAG={raw!r}: expected true/false"


@pytest.mark.parametrize("raw", ["abc", "1.5", "1e3", "0x10", "nan"])
def test_bad_int_names_the_variable_and_value(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        env_int({"GATEWAY_PORT": raw}, "GATEWAY_PORT", 8080)
    assert str(caught.value) == f"GATEWAY_PORT={raw!r}: expected an integer"


def test_int_bounds() -> None:
    assert env_int({"N": "1"}, "N", 5) == 1  # default minimum 1
    with pytest.raises(SettingsError, match=r"^N='0': must be >= 1$"):
        env_int({"N": "0"}, "N", 5)
    assert env_int({"N": "0"}, "N", 5, minimum=0) == 0
    with pytest.raises(SettingsError, match=r"^N='15': must be >= 16$"):
        env_int({"N": "15"}, "N", 4096, minimum=16)
    assert env_int({"N": "-3"}, "N", 5, minimum=None) == -3
    assert env_int({"N": "65535"}, "N", 1, maximum=65535) == 65535
    with pytest.raises(SettingsError, match=r"^N='65536': must be <= 65535$"):
        env_int({"N": "65536"}, "N", 1, maximum=65535)


@pytest.mark.parametrize("raw", ["abc", "1,5", "nan", "NaN", "-nan"])
def test_bad_float_names_the_variable_and_value(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        env_float({"T_S": raw}, "T_S", 1.0, minimum=None)
    assert str(caught.value) == f"T_S={raw!r}: expected a number"


def test_float_bounds() -> None:
    # default: > 0
    with pytest.raises(SettingsError, match=r"^T='0': must be > 0$"):
        env_float({"T": "0"}, "T", 1.0)
    with pytest.raises(SettingsError, match=r"^T='-1': must be > 0$"):
        env_float({"T": "-1"}, "T", 1.0)
    # strict_min=False: >= minimum
    assert env_float({"T": "0"}, "T", 1.0, strict_min=False) == 0.0
    with pytest.raises(SettingsError, match=r"^T='-0.5': must be >= 0$"):
        env_float({"T": "-0.5"}, "T", 1.0, strict_min=False)
    # maximum
    assert env_float({"U": "1"}, "U", 0.3, maximum=1.0) == 1.0
    with pytest.raises(SettingsError, match=r"^U='1.5': must be <= 1$"):
        env_float({"U": "1.5"}, "U", 0.3, maximum=1.0)
    with pytest.raises(SettingsError, match="must be <= 1"):
        env_float({"U": "inf"}, "U", 0.3, maximum=1.0)
    # no lower bound
    assert env_float({"T": "-2.5"}, "T", 1.0, minimum=None) == -2.5


def test_float_infinity_only_when_allowed() -> None:
    assert math.isinf(env_float({"T": "inf"}, "T", 1.0))
    with pytest.raises(SettingsError, match=r"^T='inf': must be finite$"):
        env_float({"T": "inf"}, "T", 1.0, finite=True)
    assert env_float({"T": "1e300"}, "T", 1.0, finite=True) == 1e300


def test_the_message_shows_the_value_as_given() -> None:
    with pytest.raises(SettingsError, match=r"^N=' x ': expected an integer$"):
        env_int({"N": " x "}, "N", 1)


def test_nats_url_defaults_and_rejects_other_schemes() -> None:
    assert env_nats_url({}) == "nats://127.0.0.1:4222"
    assert env_nats_url({"NATS_URL": " tls://nats:4222 "}) == "tls://nats:4222"
    with pytest.raises(SettingsError, match="NATS_URL='http://x'"):
        env_nats_url({"NATS_URL": "http://x"})


def test_otel_traces_exporter_and_protocol() -> None:
    assert env_otel_traces({}) == ("none", "http/protobuf")
    env = {"OTEL_TRACES_EXPORTER": "OTLP", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert env_otel_traces(env) == ("otlp", "grpc")
    env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"  # the traces one wins
    assert env_otel_traces(env) == ("otlp", "http/protobuf")
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER='jaeger'"):
        env_otel_traces({"OTEL_TRACES_EXPORTER": "jaeger"})
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json'"):
        env_otel_traces({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
