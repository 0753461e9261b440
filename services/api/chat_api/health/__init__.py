"""Liveness and readiness probes (no auth)."""

from chat_api.health.controllers import HealthController

__all__ = ["HealthController"]
