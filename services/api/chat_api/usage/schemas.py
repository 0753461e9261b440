"""Bodies of the usage routes."""

from __future__ import annotations

import msgspec

from contracts.usage import DayUsage, ModelUsage, UsageCounts, UserUsage


class UsageReport(msgspec.Struct, kw_only=True):
    """``GET /api/usage`` and ``GET /api/admin/usage``."""

    start: str
    """The range's first instant, ISO 8601 UTC (inclusive)."""
    end: str
    """The range's end, ISO 8601 UTC (exclusive)."""
    user_id: str | None
    """Whose usage (None: everyone's; admins only)."""
    model: str | None
    totals: UsageCounts
    by_day: list[DayUsage]
    """UTC days with at least one request, oldest first."""
    by_model: list[ModelUsage]
    """Most tokens first."""
    by_user: list[UserUsage] | None = None
    """Admins, everyone's usage: per user, most tokens first (at most 1,000)."""
