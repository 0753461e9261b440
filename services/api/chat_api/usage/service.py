"""``UsageService``: who may see which usage, and the reports built from metering's
answers. Users see their own usage only; admins see everyone's (optionally one user's),
with a per-user breakdown when they look at everyone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from chat_api.metering_client import Metering
from chat_api.settings import ApiSettings
from chat_api.usage.csv_export import csv_body
from chat_api.usage.period import Period, iso_utc, usage_period
from chat_api.usage.schemas import UsageReport
from contracts.usage import ListUsageRecords, UsageQuery

USAGE_KEY = "usage"
"""Where the app state keeps the ``UsageService`` (set by the lifespan)."""


@dataclass(frozen=True)
class UsageScope:
    """Whose usage a request looks at: ``user_id`` None means everyone's."""

    period: Period
    user_id: str | None
    model: str | None


@dataclass(frozen=True)
class CsvDownload:
    body: AsyncIterator[bytes]
    filename: str


class UsageService:
    def __init__(self, settings: ApiSettings, metering: Metering) -> None:
        self.settings = settings
        self.metering = metering

    def scope(
        self, from_: str | None, to: str | None, user_id: str | None, model: str | None
    ) -> UsageScope:
        """Parse the range (400 when bad). ``user_id`` is the caller's own id for user
        routes, and the admin's filter (None: everyone) for admin routes."""
        period = usage_period(from_, to, time.time(), self.settings.usage_max_range_days)
        return UsageScope(period=period, user_id=user_id, model=model)

    async def report(self, scope: UsageScope) -> UsageReport:
        summary = await self.metering.summary(
            UsageQuery(
                start=scope.period.start,
                end=scope.period.end,
                user_id=scope.user_id,
                model=scope.model,
                by_user=scope.user_id is None,
            )
        )
        return UsageReport(
            start=iso_utc(scope.period.start),
            end=iso_utc(scope.period.end),
            user_id=scope.user_id,
            model=scope.model,
            totals=summary.totals,
            by_day=list(summary.by_day),
            by_model=list(summary.by_model),
            by_user=list(summary.by_user) if scope.user_id is None else None,
        )

    async def csv(self, scope: UsageScope) -> CsvDownload:
        """The raw records as a CSV stream. The first page is fetched here, so a metering
        outage or a bad query is still an error response, not a broken download."""
        request = ListUsageRecords(
            start=scope.period.start,
            end=scope.period.end,
            user_id=scope.user_id,
            model=scope.model,
            limit=self.settings.usage_page_size,
        )
        first = await self.metering.records(request)
        return CsvDownload(
            body=csv_body(self.metering, request, first),
            filename=f"usage-{scope.period.label}.csv",
        )
