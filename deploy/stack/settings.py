"""Settings of the embedded launcher, from the environment (see .env.sample)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    data_dir: Path
    nats_url: str | None
    """Use this NATS server instead of starting one."""
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    workers: int = 1
    ready_timeout_s: float = 600.0
    log_dir: Path | None = None
    """Write each child's output to <log_dir>/<name>.log instead of the terminal."""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"


def load_settings() -> StackSettings:
    env = os.environ
    try:
        port = int(env.get("GATEWAY_PORT", "8080"))
        workers = int(env.get("STACK_WORKERS", "1"))
        ready_timeout = float(env.get("STACK_READY_TIMEOUT_S", "600"))
    except ValueError as exc:
        raise SystemExit(f"invalid setting: {exc}") from None
    if workers < 1:
        raise SystemExit("STACK_WORKERS must be at least 1")
    return StackSettings(
        data_dir=Path(env.get("DATA_DIR", ".data")).resolve(),
        nats_url=env.get("NATS_URL") or None,
        gateway_host=env.get("GATEWAY_HOST", "127.0.0.1"),
        gateway_port=port,
        workers=workers,
        ready_timeout_s=ready_timeout,
        log_dir=Path(env["STACK_LOG_DIR"]) if env.get("STACK_LOG_DIR") else None,
    )
