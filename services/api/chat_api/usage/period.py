"""``Period``: the ``from`` / ``to`` query parameters of the usage routes as a UTC range.

Each bound is a date (``2025-01-31``: a whole UTC day; ``to`` includes that day) or an
ISO 8601 date-time (``2025-01-31T12:00:00Z``; no offset means UTC; ``to`` is then the
exclusive end). Missing: ``to`` is today, ``from`` is 29 days before ``to``'s day (the
last 30 days). Anything else, an empty range, or a range longer than the configured
maximum is a 400 ``invalid_request`` naming the parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from chat_api.errors import ApiError
from contracts.errors import ErrorCode

DEFAULT_DAYS = 30
_DAY = dt.timedelta(days=1)


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_REQUEST, message, param=param)


def iso_utc(at: float) -> str:
    """``2025-01-31T12:00:00.000Z``."""
    stamp = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True)
class Period:
    start: float
    """Inclusive, UNIX seconds."""
    end: float
    """Exclusive, UNIX seconds."""

    @property
    def label(self) -> str:
        """For file names: ``20250101-20250131`` (the last day included)."""
        first = dt.datetime.fromtimestamp(self.start, dt.UTC)
        last = dt.datetime.fromtimestamp(max(self.start, self.end - 0.001), dt.UTC)
        return f"{first:%Y%m%d}-{last:%Y%m%d}"


def _parse(value: str, param: str) -> dt.datetime | dt.date:
    text = value.strip()
    if len(text) == 10:  # YYYY-MM-DD
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    else:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    raise _bad(param, f"{param}: expected a date (YYYY-MM-DD) or an ISO 8601 date-time")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _start(value: dt.datetime | dt.date) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else _midnight(value)


def _end(value: dt.datetime | dt.date) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else _midnight(value) + _DAY


def usage_period(from_: str | None, to: str | None, now: float, max_days: int) -> Period:
    """The range the query parameters name (see the module doc); raises a 400."""
    try:
        if to is None:
            end = _midnight(dt.datetime.fromtimestamp(now, dt.UTC).date()) + _DAY
        else:
            end = _end(_parse(to, "to"))
        if from_ is None:
            start = (
                _midnight((end - dt.timedelta(microseconds=1)).date()) - (DEFAULT_DAYS - 1) * _DAY
            )
        else:
            start = _start(_parse(from_, "from"))
    except OverflowError:
        raise _bad("to" if from_ is None else "from", "the date is out of range") from None
    if end <= start:
        raise _bad("to", "the range is empty: `to` must be after `from`")
    if end - start > max_days * _DAY:
        raise _bad("to", f"the range is longer than {max_days} days")
    return Period(start=start.timestamp(), end=end.timestamp())
