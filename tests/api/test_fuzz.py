"""Property-based: every route of the api, fed input generated from its own OpenAPI
document by schemathesis (schema examples; boundary, schema-violating and unexpected-method
cases; then random valid and invalid input), answers without a 5xx, and every 4xx carries
the standard error body. Each operation runs once as a normal user and once as an admin (so
the admin routes are fuzzed past their guard), each on a fresh app over the in-memory fakes,
called in process over ASGI. Seeded and derandomized: every run sends the same requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck
from litestar import Litestar
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from chat_api.app import create_app
from chat_api.auth import AUTHENTICATOR_KEY, Authenticator
from chat_api.chat import ChatService
from chat_api.errors import ErrorBody
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from chat_api.usage import USAGE_KEY, UsageService
from contracts.accounts import Role
from contracts.errors import ErrorCode
from tests.api.fake_gateway import FakeGateway
from tests.api.fake_persistence import SECRET, FakePersistence, bearer
from tests.api.models.fake_model_admin import FakeModelAdmin
from tests.api.usage.fake_metering import FakeMetering

MAX_EXAMPLES = 30
"""Random examples per operation (the other phases add their own few); the whole module
takes about 35 s on a 2-core box."""
IDENTITIES: dict[str, tuple[str, Role]] = {"user": ("alice", "user"), "admin": ("root", "admin")}
WIRE_CODES = frozenset(code.value for code in ErrorCode)


@dataclass
class FuzzedApi:
    app: Litestar
    persistence: FakePersistence
    user_id: str
    role: Role

    def keep_identity(self) -> None:
        """The fuzz may disable or demote its own account (``PATCH /api/admin/users/{id}``
        learns ids from earlier answers); put it back, or every later case is a 401/403."""
        user = self.persistence.users[self.user_id]
        if user.role != self.role or user.disabled:
            self.persistence.users[self.user_id] = msgspec.structs.replace(
                user, role=self.role, disabled=False
            )
            authenticator: Authenticator = self.app.state[AUTHENTICATOR_KEY]
            authenticator.forget_user(self.user_id)


def build_app() -> tuple[Litestar, FakePersistence]:
    """The api over every in-memory fake, so no route stops at a 503 'not available'."""
    settings = ApiSettings(
        jwt_secret=SECRET,
        max_input_chars=1000,
        max_messages=8,
        max_tokens_limit=512,
        request_timeout_s=30.0,
        models=("gemma3-270m", "other-model"),
        admin_can_read_conversations=True,
    )
    persistence = FakePersistence()
    persistence.add_user("alice")
    persistence.add_user("root", role="admin")
    gateway = FakeGateway(live_models=("gemma3-270m", "other-model"))
    service = ChatService(settings, gateway, StreamTable())
    app = create_app(
        settings, chat_service=service, persistence=persistence, model_admin=FakeModelAdmin()
    )
    app.state[USAGE_KEY] = UsageService(settings, FakeMetering())
    return app, persistence


@pytest.fixture(params=sorted(IDENTITIES))
def fuzzed_api(request: pytest.FixtureRequest) -> Iterator[FuzzedApi]:
    """A fresh app for every operation and identity."""
    user_id, role = IDENTITIES[request.param]
    app, persistence = build_app()
    yield FuzzedApi(app=app, persistence=persistence, user_id=user_id, role=role)
    # schemathesis keeps every ASGI app it started (and its lifespan) until the process ends
    asgi.shutdown_lifespans()


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20250101,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            # an admin event feed never ends: its first frame is enough
            {"include-path": "/api/admin/models/events", "max-stream-events": 1},
        ],
    }
)
# The document is read off an app built here, at collection (schemathesis parametrizes by
# operation then); each test sends its cases to its own fresh app (``call(app=...)``). Not
# ``schemathesis.pytest.from_fixture``: its lazy loader sets ``Function._nodeid``, which
# pytest 9 no longer has.
schema = schemathesis.openapi.from_dict(build_app()[0].openapi_schema.to_schema(), config=CONFIG)


def standard_error_body(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """A 4xx is the one standard body of ``chat_api.errors``: a wire code, a message, and
    the request id of its X-Request-ID header (schemathesis prints the body on a failure)."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"Content-Type {content_type!r}"
    try:
        error = msgspec.json.decode(response.content, type=ErrorBody).error
    except msgspec.DecodeError as exc:
        raise AssertionError(f"not the standard error body: {exc}") from None
    assert error.code in WIRE_CODES, f"unknown error code {error.code!r}"
    assert error.message, "empty error message"
    request_id = response.headers.get("x-request-id", [""])[0]
    assert error.request_id == request_id, f"request_id is not X-Request-ID {request_id!r}"
    return True


@schema.parametrize()
# one app per operation and identity on purpose: its state runs through the examples
@hypothesis.settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_route_answers_5xx_or_a_nonstandard_error(
    case: Case[Any], fuzzed_api: FuzzedApi
) -> None:
    fuzzed_api.keep_identity()
    case.call_and_validate(
        app=fuzzed_api.app,
        headers=bearer(fuzzed_api.user_id, fuzzed_api.role),
        checks=[not_a_server_error, standard_error_body],
    )
