"""``/api/usage`` (the caller's own usage) and ``/api/admin/usage`` (admins: everyone's,
filtered by user and model): a JSON report, or the raw records as a streamed CSV."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream

from chat_api.auth import AuthUser, admin_only
from chat_api.metering_client import metering_unavailable
from chat_api.usage.schemas import UsageReport
from chat_api.usage.service import USAGE_KEY, CsvDownload, UsageService

CSV_MEDIA_TYPE = "text/csv"
"""No charset here: Litestar appends "; charset=utf-8" to every text/* type itself."""

From = Annotated[
    str | None,
    Parameter(
        query="from",
        max_length=40,
        description="first day (YYYY-MM-DD, UTC) or instant (ISO 8601); default 29 days "
        "before `to`",
    ),
]
To = Annotated[
    str | None,
    Parameter(
        query="to",
        max_length=40,
        description="last day, included (YYYY-MM-DD, UTC), or an exclusive end instant "
        "(ISO 8601); default today",
    ),
]
ModelFilter = Annotated[
    str | None, Parameter(min_length=1, max_length=200, description="only this model")
]
UserFilter = Annotated[
    str | None, Parameter(min_length=1, max_length=200, description="only this user's usage")
]


def provide_usage(state: State) -> UsageService:
    service: UsageService | None = state.get(USAGE_KEY)
    if service is None:
        raise metering_unavailable("usage is not available in this api")
    return service


def _csv_response(download: CsvDownload) -> Stream:
    return Stream(
        download.body,
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        },
    )


class UsageController(Controller):
    path = "/api/usage"
    tags = ["usage"]
    dependencies = {"usage": Provide(provide_usage, sync_to_thread=False)}

    @get("/", summary="The caller's usage: totals, per day, per model")
    async def mine(
        self,
        request: Request[AuthUser, str, Any],
        usage: UsageService,
        from_: From = None,
        to: To = None,
        model: ModelFilter = None,
    ) -> UsageReport:
        return await usage.report(usage.scope(from_, to, request.user.id, model))

    @get(
        "/records.csv",
        media_type=CSV_MEDIA_TYPE,
        summary="The caller's usage records as CSV (streamed)",
    )
    async def my_records(
        self,
        request: Request[AuthUser, str, Any],
        usage: UsageService,
        from_: From = None,
        to: To = None,
        model: ModelFilter = None,
    ) -> Stream:
        return _csv_response(await usage.csv(usage.scope(from_, to, request.user.id, model)))


class AdminUsageController(Controller):
    path = "/api/admin/usage"
    tags = ["admin", "usage"]
    guards = [admin_only]
    dependencies = {"usage": Provide(provide_usage, sync_to_thread=False)}

    @get("/", summary="Everyone's usage (or one user's): totals, per day, model, user")
    async def everyone(
        self,
        usage: UsageService,
        from_: From = None,
        to: To = None,
        user_id: UserFilter = None,
        model: ModelFilter = None,
    ) -> UsageReport:
        return await usage.report(usage.scope(from_, to, user_id, model))

    @get(
        "/records.csv",
        media_type=CSV_MEDIA_TYPE,
        summary="Everyone's usage records as CSV (streamed)",
    )
    async def records(
        self,
        usage: UsageService,
        from_: From = None,
        to: To = None,
        user_id: UserFilter = None,
        model: ModelFilter = None,
    ) -> Stream:
        return _csv_response(await usage.csv(usage.scope(from_, to, user_id, model)))
