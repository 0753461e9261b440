"""``python -m metering``: run the metering service until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from metering.app import run
from metering.settings import SettingsError, load_settings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("nats").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"metering: bad setting: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run(settings, install_signal_handlers=True))


if __name__ == "__main__":
    sys.exit(main())
