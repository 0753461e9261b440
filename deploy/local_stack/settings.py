"""Settings of the embedded launcher, from the environment (see .env.sample)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from env_settings import SettingsError, env_bool, env_float, env_int

DEFAULT_METRICS_PORT_BASE = 9400
METRICS_PORT_OFFSETS = {"persistence": 1, "metering": 2, "worker": 10}


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
    dev_admin: bool = True
    """The development admin (``make token``) on this embedded stack: ``DEV_ADMIN``, on by
    default here and only here (persistence's own default is off)."""
    metrics_port_base: int = 0
    """Metrics ports of the services (``make run``: 9400): persistence base+1, metering
    base+2, worker N base+10+N. 0: the services serve no metrics endpoint (the api always
    serves ``/metrics`` on its own port)."""

    @property
    def api_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    def metrics_env(self, service: str, index: int = 1) -> dict[str, str]:
        """The metrics port variable of ``service`` (``persistence``, ``metering``,
        ``worker`` number ``index``), or nothing when the base is 0. The ports
        deploy/prometheus/prometheus.yml scrapes."""
        if self.metrics_port_base <= 0:
            return {}
        port = (
            self.metrics_port_base
            + METRICS_PORT_OFFSETS[service]
            + (index if service == "worker" else 0)
        )
        return {f"{service.upper()}_METRICS_PORT": str(port)}


def load_settings() -> StackSettings:
    env = os.environ
    try:
        port = env_int(env, "GATEWAY_PORT", 8080, minimum=0, maximum=65535)
        workers = env_int(env, "STACK_WORKERS", 1, minimum=1)
        ready_timeout = env_float(env, "STACK_READY_TIMEOUT_S", 600.0, minimum=None)
        metrics_port_base = env_int(
            env, "STACK_METRICS_PORT_BASE", DEFAULT_METRICS_PORT_BASE, minimum=None
        )
        dev_admin = env_bool(env, "DEV_ADMIN", True)
    except SettingsError as exc:
        raise SystemExit(f"invalid setting: {exc}") from None
    return StackSettings(
        data_dir=Path(env.get("DATA_DIR", ".data")).resolve(),
        nats_url=env.get("NATS_URL") or None,
        gateway_host=env.get("GATEWAY_HOST", "127.0.0.1"),
        gateway_port=port,
        workers=workers,
        ready_timeout_s=ready_timeout,
        log_dir=Path(env["STACK_LOG_DIR"]) if env.get("STACK_LOG_DIR") else None,
        metrics_port_base=metrics_port_base,
        dev_admin=dev_admin,
    )
