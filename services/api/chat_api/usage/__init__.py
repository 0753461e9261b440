"""Usage (FR-6): the caller's own usage, everyone's for admins, CSV downloads of the raw
records; all answered by the metering service over NATS."""

from chat_api.usage.controllers import AdminUsageController, UsageController
from chat_api.usage.service import USAGE_KEY, UsageService

__all__ = ["USAGE_KEY", "AdminUsageController", "UsageController", "UsageService"]
