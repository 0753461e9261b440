"""Unit-app fixtures over ``FakePersistence`` and ``FakeGateway``."""

from tests.api.fake_persistence import (  # noqa: F401
    app_client,
    app_gateway,
    app_settings,
    fake_persistence,
)
