"""``python -m metering``: run the metering service until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from metering.app import run
from metering.settings import SettingsError, load_settings
from structured_logs import configure_logging


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"metering: bad setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("nats").setLevel(logging.WARNING)
    return asyncio.run(run(settings, install_signal_handlers=True))


if __name__ == "__main__":
    sys.exit(main())
