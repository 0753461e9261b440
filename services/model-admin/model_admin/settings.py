"""``ModelAdminSettings``: the one typed configuration of the service, built once from env.

Every variable is read here and nowhere else; a bad value raises ``SettingsError`` naming
the variable, at start-up. Shared variables (``NATS_URL``, ``DATA_DIR``, ``LOG_LEVEL``)
have no prefix; the service's own start with ``MODEL_ADMIN_``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

from env_settings import SettingsError as SettingsError  # re-exported
from env_settings import env_float, env_int, env_nats_url, env_opt
from model_admin.registry import DEFAULT_PROFILE_DIR
from structured_logs import LogFormat, log_settings_from_env

DEFAULT_GROUP = "gemma3-270m"
"""The group today's workers serve (``WORKER_MODEL``'s default)."""
_GROUP = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ModelAdminSettings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    data_dir: Path = Path(".data")
    profiles_dir: Path = DEFAULT_PROFILE_DIR
    """Version-controlled profiles (read-only to the service)."""
    added_profiles_dir: Path | None = None
    """Profiles admins add; None: ``<data_dir>/model-admin/profiles``."""
    default_group: str = DEFAULT_GROUP
    """Group an activate / check without a group goes to, when more than one group exists."""
    command_drain_timeout_s: float = 30.0
    """``ActivateProfile.drain_timeout_s`` when the request does not set one."""
    gone_after_intervals: float = 3.0
    """A worker silent for this many of its heartbeat intervals is gone."""
    sweep_interval_s: float = 1.0
    """How often the gone-watcher looks."""
    rpc_concurrency: int = 32
    nats_connect_timeout_s: float = 60.0
    drain_timeout_s: float = 5.0
    log_level: str = "INFO"
    log_format: LogFormat = "json"

    @property
    def overlay_dir(self) -> Path:
        if self.added_profiles_dir is not None:
            return self.added_profiles_dir
        return self.data_dir / "model-admin" / "profiles"


def load_settings(env: Mapping[str, str] | None = None) -> ModelAdminSettings:
    """Build the settings from ``env`` (default ``os.environ``); raise ``SettingsError``."""
    env = os.environ if env is None else env
    log_level, log_format = log_settings_from_env(env)
    nats_url = env_nats_url(env)
    profiles_dir = Path(
        env_opt(env, "MODEL_ADMIN_PROFILES_DIR") or DEFAULT_PROFILE_DIR
    ).expanduser()
    if not profiles_dir.is_dir():
        raise SettingsError(f"MODEL_ADMIN_PROFILES_DIR={str(profiles_dir)!r}: not a directory")
    added = env_opt(env, "MODEL_ADMIN_ADDED_PROFILES_DIR")
    group = env_opt(env, "MODEL_ADMIN_DEFAULT_GROUP") or DEFAULT_GROUP
    if not _GROUP.fullmatch(group):
        raise SettingsError(
            f"MODEL_ADMIN_DEFAULT_GROUP={group!r}: expected 1-64 of A-Z a-z 0-9 _ -"
        )
    return ModelAdminSettings(
        nats_url=nats_url,
        data_dir=Path(env_opt(env, "DATA_DIR") or ".data").expanduser(),
        profiles_dir=profiles_dir,
        added_profiles_dir=Path(added).expanduser() if added else None,
        default_group=group,
        command_drain_timeout_s=env_float(env, "MODEL_ADMIN_COMMAND_DRAIN_TIMEOUT_S", 30.0),
        gone_after_intervals=env_float(env, "MODEL_ADMIN_GONE_AFTER_INTERVALS", 3.0),
        sweep_interval_s=env_float(env, "MODEL_ADMIN_SWEEP_INTERVAL_S", 1.0),
        rpc_concurrency=env_int(env, "MODEL_ADMIN_RPC_CONCURRENCY", 32),
        nats_connect_timeout_s=env_float(env, "MODEL_ADMIN_NATS_CONNECT_TIMEOUT_S", 60.0),
        drain_timeout_s=env_float(env, "MODEL_ADMIN_DRAIN_TIMEOUT_S", 5.0),
        log_level=log_level,
        log_format=log_format,
    )
