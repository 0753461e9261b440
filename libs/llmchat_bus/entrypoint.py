"""``python -m <service>``: read the settings, set up the logs, run the service until
SIGTERM / SIGINT, and exit with its code. A bad setting exits 2 with one line naming it,
before anything starts."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from env_settings import SettingsError
from structured_logs import LogFormat, configure_logging


class LoggedSettings(Protocol):
    @property
    def log_level(self) -> str: ...
    @property
    def log_format(self) -> LogFormat: ...


S = TypeVar("S", bound=LoggedSettings)


def run_service(
    name: str,
    load_settings: Callable[[], S],
    run: Callable[..., Coroutine[Any, Any, int]],
    before_run: Callable[[S], None] | None = None,
) -> int:
    """The exit code of ``run(settings, install_signal_handlers=True)``; ``before_run``
    (say, routing a library's logs) runs once logging is configured."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: bad setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if before_run is not None:
        before_run(settings)
    # nats-py logs every reconnect attempt at INFO; the services log what matters.
    logging.getLogger("nats").setLevel(logging.WARNING)
    return asyncio.run(run(settings, install_signal_handlers=True))
