from __future__ import annotations

from typing import Any

import msgspec
from litestar.testing import TestClient

from tests.api.fake_gateway import FakeGateway, ready_status


def test_healthz(client: TestClient[Any]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_lists_workers(client: TestClient[Any]) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    worker = response.json()["workers"][0]
    assert worker["id"] == "w-gemma3-270m"
    assert worker["state"] == "ready"
    assert set(worker) >= {"id", "model", "state", "in_flight", "capacity", "last_seen_s"}


def test_readyz_503_without_default_model(
    client: TestClient[Any], fake_gateway: FakeGateway
) -> None:
    fake_gateway.workers.observe(
        msgspec.structs.replace(ready_status("w-gemma3-270m"), state="loading")
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
