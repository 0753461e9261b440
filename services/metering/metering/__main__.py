"""``python -m metering``: run the metering service until SIGTERM / SIGINT."""

from __future__ import annotations

import sys

from llmchat_bus.entrypoint import run_service
from metering.app import run
from metering.settings import load_settings

if __name__ == "__main__":
    sys.exit(run_service("metering", load_settings, run))
