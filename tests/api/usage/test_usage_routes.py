"""The usage routes on a unit app over ``FakeMetering``: who sees what, what is asked of
metering, bad ranges, metering down, and the CSV format."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.settings import ApiSettings
from chat_api.usage import USAGE_KEY
from tests.api.fake_persistence import bearer
from tests.api.test_errors import assert_error_body
from tests.api.usage.fake_metering import T0, FakeMetering, record

ALICE = bearer("alice")
ROOT = bearer("root", role="admin")
ROUTES = ["/api/usage", "/api/usage/records.csv"]
ADMIN_ROUTES = ["/api/admin/usage", "/api/admin/usage/records.csv"]
JANUARY = "from=2025-01-01&to=2025-01-31"


@pytest.mark.parametrize("path", ROUTES + ADMIN_ROUTES)
def test_no_token_is_401(usage_client: TestClient[Any], path: str) -> None:
    assert_error_body(usage_client.get(path), 401, "unauthorized")


@pytest.mark.parametrize("path", ADMIN_ROUTES)
def test_admin_routes_are_403_for_users(
    usage_client: TestClient[Any], fake_metering: FakeMetering, path: str
) -> None:
    assert_error_body(usage_client.get(path, headers=ALICE), 403, "forbidden")
    assert fake_metering.summaries == []
    assert fake_metering.pages == []


def test_own_usage_asks_only_for_the_callers_records(
    usage_client: TestClient[Any], fake_metering: FakeMetering
) -> None:
    response = usage_client.get(
        f"/api/usage?{JANUARY}&user_id=bob&model=gemma3-270m", headers=ALICE
    )
    assert response.status_code == 200, response.text
    body = response.json()
    (query,) = fake_metering.summaries
    assert (query.user_id, query.model, query.by_user) == ("alice", "gemma3-270m", False)
    assert query.start == T0
    assert query.end == T0 + 31 * 86_400  # `to` includes its day
    assert body["user_id"] == "alice"
    assert (body["start"], body["end"]) == ("2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z")
    assert body["totals"]["requests"] == 3
    assert body["by_day"] == [
        {
            "requests": 3,
            "completed": 3,
            "failed": 0,
            "cancelled": 0,
            "in_progress": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 36,
            "avg_ttft_ms": None,
            "p50_ttft_ms": None,
            "p95_ttft_ms": None,
            "avg_latency_ms": None,
            "day": "2025-01-01",
        }
    ]
    assert body["by_model"][0]["model"] == "gemma3-270m"
    assert body["by_user"] is None


def test_admin_sees_everyone_with_a_per_user_breakdown_or_filters(
    usage_client: TestClient[Any], fake_metering: FakeMetering
) -> None:
    everyone = usage_client.get(f"/api/admin/usage?{JANUARY}", headers=ROOT)
    assert everyone.status_code == 200, everyone.text
    assert everyone.json()["user_id"] is None
    assert [u["user_id"] for u in everyone.json()["by_user"]] == ["alice"]
    one = usage_client.get(f"/api/admin/usage?{JANUARY}&user_id=bob&model=x", headers=ROOT)
    assert one.status_code == 200, one.text
    assert one.json()["by_user"] is None
    first, second = fake_metering.summaries
    assert (first.user_id, first.model, first.by_user) == (None, None, True)
    assert (second.user_id, second.model, second.by_user) == ("bob", "x", False)


def test_default_range_is_the_last_30_days(
    usage_client: TestClient[Any], fake_metering: FakeMetering
) -> None:
    assert usage_client.get("/api/usage", headers=ALICE).status_code == 200
    (query,) = fake_metering.summaries
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    end = dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=dt.UTC)
    assert query.end in (end.timestamp(), end.timestamp() - 86_400)  # midnight in between
    assert query.end - query.start == 30 * 86_400


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=2025-13-01", "from"),
        ("from=yesterday", "from"),
        ("to=2025-02-30", "to"),
        ("from=2025-02-01&to=2025-01-01", "to"),
        ("from=2025-01-01T10:00:00Z&to=2025-01-01T10:00:00Z", "to"),
        ("from=2020-01-01&to=2025-01-01", "to"),
        ("to=9999-12-31", "to"),
        ("model=", "model"),
    ],
)
@pytest.mark.parametrize("path", ROUTES)
def test_bad_ranges_are_400(
    usage_client: TestClient[Any], fake_metering: FakeMetering, path: str, query: str, param: str
) -> None:
    error = assert_error_body(
        usage_client.get(f"{path}?{query}", headers=ALICE), 400, "invalid_request"
    )
    assert error["param"] == param or param in error["message"]
    assert fake_metering.summaries == []
    assert fake_metering.pages == []


def test_iso_instants_are_accepted(
    usage_client: TestClient[Any], fake_metering: FakeMetering
) -> None:
    response = usage_client.get(
        "/api/usage?from=2025-01-01T06:00:00%2B02:00&to=2025-01-02T00:00:00", headers=ALICE
    )
    assert response.status_code == 200, response.text
    (query,) = fake_metering.summaries
    assert (query.start, query.end) == (T0 + 4 * 3600, T0 + 86_400)


@pytest.mark.parametrize("path", ROUTES)
def test_metering_down_is_503(
    usage_client: TestClient[Any], fake_metering: FakeMetering, path: str
) -> None:
    fake_metering.down = True
    response = usage_client.get(f"{path}?{JANUARY}", headers=ALICE)
    assert_error_body(response, 503, "service_unavailable")
    assert response.headers["retry-after"]


def test_no_usage_service_is_503(usage_client: TestClient[Any]) -> None:
    usage_client.app.state[USAGE_KEY] = None
    assert_error_body(usage_client.get("/api/usage", headers=ALICE), 503, "service_unavailable")


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_of_own_records(
    usage_client: TestClient[Any], fake_metering: FakeMetering, app_settings: ApiSettings
) -> None:
    fake_metering.records_list = [
        record(1),
        record(2, status="failed", error_code="worker_lost", ttft_ms=None, input_tokens=0),
        record(3, user_id="bob"),
        record(4, api_key_id="key-1", model="=HYPERLINK(1)"),
    ]
    response = usage_client.get(f"/api/usage/records.csv?{JANUARY}", headers=ALICE)
    assert response.status_code == 200, response.text
    # one charset parameter (it was given twice: ours and the one Litestar appends)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="usage-20250101-20250131.csv"'
    )
    assert "content-length" not in response.headers
    rows = _rows(response.text)
    assert [r["request_id"] for r in rows] == ["r0000001", "r0000002", "r0000004"]
    assert rows[0] == {
        "request_id": "r0000001",
        "time": "2025-01-01T00:00:01.000Z",
        "user_id": "alice",
        "api_key_id": "",
        "model": "gemma3-270m",
        "status": "completed",
        "error_code": "",
        "input_tokens": "10",
        "output_tokens": "1",
        "total_tokens": "11",
        "ttft_ms": "12.5",
        "latency_ms": "250.0",
    }
    assert (rows[1]["status"], rows[1]["error_code"], rows[1]["ttft_ms"]) == (
        "failed",
        "worker_lost",
        "",
    )
    assert (rows[2]["api_key_id"], rows[2]["model"]) == ("key-1", "'=HYPERLINK(1)")
    assert {p.user_id for p in fake_metering.pages} == {"alice"}
    assert fake_metering.pages[0].limit == app_settings.usage_page_size


def test_admin_csv_pages_through_everything(
    usage_client: TestClient[Any], fake_metering: FakeMetering, app_settings: ApiSettings
) -> None:
    size = app_settings.usage_page_size
    fake_metering.records_list = [
        record(i, user_id="alice" if i % 2 else "bob") for i in range(size * 2 + 5)
    ]
    response = usage_client.get(f"/api/admin/usage/records.csv?{JANUARY}", headers=ROOT)
    assert response.status_code == 200
    rows = _rows(response.text)
    assert len(rows) == size * 2 + 5
    assert len({r["request_id"] for r in rows}) == len(rows)
    assert len(fake_metering.pages) == 3
    only_bob = usage_client.get(f"/api/admin/usage/records.csv?{JANUARY}&user_id=bob", headers=ROOT)
    assert {r["user_id"] for r in _rows(only_bob.text)} == {"bob"}


def test_empty_csv_has_the_header_only(usage_client: TestClient[Any]) -> None:
    response = usage_client.get(f"/api/usage/records.csv?{JANUARY}", headers=ALICE)
    assert response.status_code == 200
    assert response.text.splitlines() == [
        "request_id,time,user_id,api_key_id,model,status,error_code,input_tokens,"
        "output_tokens,total_tokens,ttft_ms,latency_ms"
    ]
