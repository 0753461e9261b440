"""The benchmark's settings (from ``BENCH_*`` variables) and how it speaks to the console."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from local_stack.ports import free_port
from local_stack.settings import StackSettings


class BenchConfig(msgspec.Struct, frozen=True, kw_only=True):
    levels: tuple[int, ...]
    max_tokens: int
    out: Path
    data_dir: Path
    rounds: int = 2


def load_config() -> BenchConfig:
    data_dir = Path(os.environ.get("DATA_DIR", ".data")).resolve()
    levels = tuple(int(x) for x in os.environ.get("BENCH_LEVELS", "1,5,10").split(","))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    if rounds < 1:
        raise SystemExit("BENCH_ROUNDS must be at least 1")
    return BenchConfig(
        rounds=rounds,
        levels=levels,
        max_tokens=int(os.environ.get("BENCH_MAX_TOKENS", "64")),
        out=Path(os.environ.get("BENCH_OUT") or data_dir / "bench.json"),
        data_dir=data_dir,
    )


def say(line: str) -> None:
    print(f"[bench] {line}", flush=True)


def dev_token(data_dir: Path) -> str:
    from chat_api.auth.dev_token import dev_token as make_token  # what `make token` prints
    from chat_api.settings import ApiSettings

    return make_token(ApiSettings.from_env({**os.environ, "DATA_DIR": str(data_dir)}))


def platform_stack_settings(stack_dir: Path) -> StackSettings:
    """The whole platform on a fresh data dir and a free port, with the api telling each
    stream's first token by stage (``API_EXPOSE_TIMELINE``)."""
    return StackSettings(
        data_dir=stack_dir,
        nats_url=None,
        gateway_port=free_port(),
        log_dir=stack_dir / "logs",
        extra_env={"API_EXPOSE_TIMELINE": "true"},
    )
