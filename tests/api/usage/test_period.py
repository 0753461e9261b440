"""``usage_period``: dates and instants, defaults, and the 400s."""

from __future__ import annotations

import pytest

from chat_api.errors import ApiError
from chat_api.usage.period import Period, iso_utc, usage_period

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
DAY = 86_400.0
NOW = T0 + 40 * DAY + 3600  # 2025-02-10T01:00Z


def test_dates_are_whole_utc_days_with_to_included() -> None:
    period = usage_period("2025-01-01", "2025-01-01", NOW, 366)
    assert period == Period(start=T0, end=T0 + DAY)
    assert period.label == "20250101-20250101"


def test_instants_keep_their_offset_and_naive_means_utc() -> None:
    period = usage_period("2025-01-01T02:00:00+02:00", "2025-01-01T12:30:00", NOW, 366)
    assert period == Period(start=T0, end=T0 + 12.5 * 3600)
    assert usage_period("2025-01-01T00:00:00Z", None, NOW, 366).start == T0


def test_defaults_are_the_30_days_up_to_today() -> None:
    period = usage_period(None, None, NOW, 366)
    assert period.end == T0 + 41 * DAY
    assert period.start == T0 + 11 * DAY
    only_to = usage_period(None, "2025-01-30", NOW, 366)
    assert only_to == Period(start=T0, end=T0 + 30 * DAY)


@pytest.mark.parametrize(
    ("from_", "to", "param"),
    [
        ("2025-1-1", None, "from"),
        ("not a date", None, "from"),
        (None, "2025-02-29", "to"),
        ("2025-01-02", "2025-01-01", "to"),
        ("2024-01-01", "2025-01-02", "to"),
        (None, "9999-12-31", "to"),
    ],
)
def test_bad_bounds(from_: str | None, to: str | None, param: str) -> None:
    with pytest.raises(ApiError) as info:
        usage_period(from_, to, NOW, 366)
    assert (info.value.status_code, info.value.code, info.value.param) == (
        400,
        "invalid_request",
        param,
    )


def test_max_range_is_inclusive() -> None:
    assert usage_period("2025-01-01", "2025-01-07", NOW, 7).end == T0 + 7 * DAY
    with pytest.raises(ApiError):
        usage_period("2025-01-01", "2025-01-08", NOW, 7)


def test_iso_utc() -> None:
    assert iso_utc(T0 + 1.5) == "2025-01-01T00:00:01.500Z"
