"""Unit-app fixtures of the usage routes: ``FakePersistence`` (users alice, bob, root the
admin), ``FakeGateway`` and ``FakeMetering`` on the app state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.usage import USAGE_KEY, UsageService
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import (  # noqa: F401
    FakePersistence,
    app_gateway,
    app_settings,
    fake_persistence,
)
from tests.api.usage.fake_metering import FakeMetering


@pytest.fixture
def fake_metering() -> FakeMetering:
    return FakeMetering()


@pytest.fixture
def usage_client(
    app_settings: ApiSettings,  # noqa: F811
    app_gateway: FakeGateway,  # noqa: F811
    fake_persistence: FakePersistence,  # noqa: F811
    fake_metering: FakeMetering,
) -> Iterator[TestClient[Any]]:
    service = ChatService(app_settings, app_gateway, StreamTable())
    app = create_app(app_settings, chat_service=service, persistence=fake_persistence)
    app.state[USAGE_KEY] = UsageService(app_settings, fake_metering)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client
