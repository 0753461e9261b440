"""``/api/models``, ``/api/admin/models*``, ``/api/admin/aliases/*`` and chat routing by
alias over a ``FakeGateway`` and a ``FakeModelAdmin`` (no NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.errors import ApiError
from chat_api.models import MODELS_KEY, ModelRouter, ModelsService
from chat_api.models.routing import SHORT_TTL_S
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from contracts import subjects
from contracts.admin import (
    AdminChange,
    AliasOverrides,
    CheckProfile,
    ProfileSampling,
    ResolveModel,
    SwapStatus,
)
from tests.api.conftest import TokenFactory
from tests.api.fake_gateway import FakeGateway, ready_status
from tests.api.models.fake_model_admin import FakeModelAdmin

CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


@pytest.fixture
def admin_fake() -> FakeModelAdmin:
    return FakeModelAdmin()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(live_models=("gemma3-270m", "legacy"))


def make_client(
    settings: ApiSettings, gateway: FakeGateway, admin_fake: FakeModelAdmin
) -> TestClient[Any]:
    service = ChatService(settings, gateway, StreamTable())
    app = create_app(settings, chat_service=service, model_admin=admin_fake)
    return TestClient(app=app, raise_server_exceptions=False)


@pytest.fixture
def models_client(
    settings: ApiSettings, gateway: FakeGateway, admin_fake: FakeModelAdmin
) -> Iterator[TestClient[Any]]:
    settings = replace(settings, models=("gemma3-270m", "legacy"), model_resolve_ttl_s=60.0)
    with make_client(settings, gateway, admin_fake) as client:
        yield client


@pytest.fixture
def admin_headers(make_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('root', role='admin')}"}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["message"]
    return error


# --- /api/models --------------------------------------------------------------------------
def test_user_models_from_model_admin(
    models_client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    body = models_client.get("/api/models", headers=auth_headers).json()
    assert body["source"] == "model-admin"
    first = body["models"][0]
    assert first["id"] == "gemma3-270m"
    assert first["aliases"] == ["default", "small"]
    assert first["defaults"] == {"temperature": 0.5, "top_p": 0.9, "max_tokens": 128}
    assert first["state"] == "ready"


def test_user_models_fall_back_to_the_whitelist(
    models_client: TestClient[Any], auth_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    admin_fake.down = True
    body = models_client.get("/api/models", headers=auth_headers).json()
    assert body["source"] == "whitelist"
    assert [(m["id"], m["state"]) for m in body["models"]] == [
        ("gemma3-270m", "ready"),
        ("legacy", "ready"),
    ]


def test_user_models_needs_a_token(models_client: TestClient[Any]) -> None:
    _error(models_client.get("/api/models"), 401, "unauthorized")


# --- admin guard ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/admin/models", None),
        ("POST", "/api/admin/models", {"id": "x"}),
        ("POST", "/api/admin/models/big/activate", {}),
        ("POST", "/api/admin/models/big/check", {}),
        ("PUT", "/api/admin/aliases/fast", {"profile": "big"}),
        ("GET", "/api/admin/models/events", None),
    ],
)
def test_admin_routes_are_for_admins(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    admin_fake: FakeModelAdmin,
    method: str,
    path: str,
    body: Any,
) -> None:
    _error(models_client.request(method, path, json=body), 401, "unauthorized")
    _error(models_client.request(method, path, json=body, headers=auth_headers), 403, "forbidden")
    assert admin_fake.calls == []


def test_admin_overview(models_client: TestClient[Any], admin_headers: dict[str, str]) -> None:
    body = models_client.get("/api/admin/models", headers=admin_headers).json()
    assert [p["id"] for p in body["profiles"]] == ["gemma3-270m", "big"]
    assert body["workers"] == []


# --- activate / dry run -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("profile_incompatible", 409),
        ("hardware_unknown", 409),
        ("profile_read_only", 409),
        ("conflict", 409),
        ("profile_invalid", 422),
        ("model_not_found", 404),
        ("invalid_request", 400),
        ("internal_error", 503),
    ],
)
def test_activate_maps_every_refusal(
    models_client: TestClient[Any],
    admin_headers: dict[str, str],
    admin_fake: FakeModelAdmin,
    code: str,
    status: int,
) -> None:
    admin_fake.refuse = (code, f"refused: {code}")
    response = models_client.post(
        "/api/admin/models/big/activate", json={"group": "g1"}, headers=admin_headers
    )
    expected = code if status != 503 else "service_unavailable"
    error = _error(response, status, expected)
    if status != 503:
        assert error["message"] == f"refused: {code}"


def test_model_admin_not_answering_is_503(
    models_client: TestClient[Any], admin_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    admin_fake.down = True
    response = models_client.post("/api/admin/models/big/activate", json={}, headers=admin_headers)
    _error(response, 503, "service_unavailable")
    assert response.headers["retry-after"]
    _error(
        models_client.get("/api/admin/models", headers=admin_headers), 503, "service_unavailable"
    )


def test_dry_run_changes_nothing(
    models_client: TestClient[Any], admin_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    response = models_client.post(
        "/api/admin/models/big/activate",
        json={"dry_run": True, "hardware": {"device": "cuda", "count": 2, "memory_gib": 24}},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert body["fits"] is False
    assert (body["needed_gib"], body["available_gib"]) == (32.0, 26.4)
    assert body["reason"] == "needs 32.0 GiB, 2x 24 GiB at 0.55 gives 26.4 GiB"
    assert [type(c) for c in admin_fake.calls] == [CheckProfile]
    same = models_client.post(
        "/api/admin/models/big/check", json={"group": "g1"}, headers=admin_headers
    )
    assert same.json()["fits"] is False


def test_activate(
    models_client: TestClient[Any], admin_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    response = models_client.post(
        "/api/admin/models/gemma3-270m/activate",
        json={"group": "g1", "drain_timeout_s": 5},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is False
    assert body["accepted"]["subject"] == subjects.command_subject("g1")
    sent = admin_fake.calls[-1]
    assert sent.issued_by == "root"  # type: ignore[attr-defined]
    assert sent.drain_timeout_s == 5  # type: ignore[attr-defined]


def test_activate_body_is_validated(
    models_client: TestClient[Any], admin_headers: dict[str, str]
) -> None:
    for body in ({"group": "a.b"}, {"drain_timeout_s": 0}, {"nope": 1}):
        response = models_client.post(
            "/api/admin/models/big/activate", json=body, headers=admin_headers
        )
        _error(response, 400, "invalid_request")


def test_add_profile(
    models_client: TestClient[Any], admin_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    not_json = models_client.post(
        "/api/admin/models",
        content=b"{nope",
        headers=admin_headers | {"content-type": "application/json"},
    )
    _error(not_json, 400, "invalid_request")
    _error(
        models_client.post("/api/admin/models", json=[1], headers=admin_headers),
        422,
        "profile_invalid",
    )
    _error(
        models_client.post("/api/admin/models", json={"id": "x"}, headers=admin_headers),
        422,
        "profile_invalid",
    )
    assert admin_fake.calls[-1].added_by == "root"  # type: ignore[attr-defined]


# --- routing ------------------------------------------------------------------------------
def _chat(client: TestClient[Any], headers: dict[str, str], model: str | None) -> Any:
    body = CHAT if model is None else CHAT | {"model": model}
    return client.post("/api/chat", json=body, headers=headers)


def test_chat_routes_by_alias_and_profile_id(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    gateway: FakeGateway,
    admin_fake: FakeModelAdmin,
) -> None:
    gateway.workers.observe(ready_status("w-big", "big-group"))
    for name, group in [
        ("small", "gemma3-270m"),
        (None, "gemma3-270m"),  # DEFAULT_MODEL resolved by model-admin too
        ("large", "big-group"),
        ("big", "big-group"),
        ("legacy", "legacy"),  # MODELS name model-admin does not know: the whitelist
    ]:
        response = _chat(models_client, auth_headers, name)
        assert response.status_code == 200, (name, response.text)
        assert gateway.requests[-1].model == group, name
    _error(_chat(models_client, auth_headers, "nope"), 404, "model_not_found")


def test_a_profile_that_is_not_whitelisted_is_not_offered(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    gateway: FakeGateway,
    admin_fake: FakeModelAdmin,
) -> None:
    gateway.workers.observe(ready_status("w-big", "big-group"))
    admin_fake.hidden.add("big")
    response = _chat(models_client, auth_headers, "large")
    _error(response, 404, "model_not_found")
    assert not gateway.requests


def test_known_model_without_a_ready_worker_is_503(
    models_client: TestClient[Any], auth_headers: dict[str, str]
) -> None:
    response = _chat(models_client, auth_headers, "large")
    _error(response, 503, "model_unavailable")
    assert response.headers["retry-after"]


def test_routing_falls_back_to_the_whitelist_when_model_admin_is_down(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    gateway: FakeGateway,
    admin_fake: FakeModelAdmin,
) -> None:
    admin_fake.down = True
    assert _chat(models_client, auth_headers, None).status_code == 200
    assert gateway.requests[-1].model == "gemma3-270m"
    # Never answered: maybe not deployed at all, so the whitelist is all there is.
    _error(_chat(models_client, auth_headers, "small"), 404, "model_not_found")
    asked = len(admin_fake.calls)
    _chat(models_client, auth_headers, "legacy")
    assert len(admin_fake.calls) == asked  # "down" is cached: no call per chat


def test_an_alias_while_a_known_model_admin_is_down_is_503_not_404(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    admin_fake: FakeModelAdmin,
) -> None:
    assert _chat(models_client, auth_headers, "small").status_code == 200
    admin_fake.down = True
    # A name outside MODELS may be an alias model-admin would resolve ("small" is cached);
    # a 404 would tell clients not to retry.
    response = _chat(models_client, auth_headers, "no-such-name")
    _error(response, 503, "service_unavailable")
    assert response.headers["retry-after"]


def test_routing_off_never_asks_model_admin(
    settings: ApiSettings,
    gateway: FakeGateway,
    admin_fake: FakeModelAdmin,
    auth_headers: dict[str, str],
) -> None:
    settings = replace(settings, model_admin_routing="off")
    with make_client(settings, gateway, admin_fake) as client:
        assert _chat(client, auth_headers, None).status_code == 200
        _error(_chat(client, auth_headers, "small"), 404, "model_not_found")
    assert admin_fake.calls == []


def test_repointed_alias_takes_effect_for_chats(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    admin_headers: dict[str, str],
    gateway: FakeGateway,
) -> None:
    gateway.workers.observe(ready_status("w-big", "big-group"))
    assert _chat(models_client, auth_headers, "small").status_code == 200
    assert gateway.requests[-1].model == "gemma3-270m"
    response = models_client.put(
        "/api/admin/aliases/small", json={"profile": "big"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["group"] == "big-group"
    assert _chat(models_client, auth_headers, "small").status_code == 200
    assert gateway.requests[-1].model == "big-group"  # the cache was dropped on the PUT


def test_null_profile_drops_an_alias(
    models_client: TestClient[Any], admin_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    # the fake asserted a profile (the fuzz test's PUT {"profile": null} was a 500)
    response = models_client.put(
        "/api/admin/aliases/fast", json={"profile": "big"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    response = models_client.put(
        "/api/admin/aliases/fast", json={"profile": None}, headers=admin_headers
    )
    _error(response, 404, "model_not_found")  # nothing left behind the name
    assert "fast" not in admin_fake.aliases


def test_v1_models_lists_aliases(
    models_client: TestClient[Any], auth_headers: dict[str, str], admin_fake: FakeModelAdmin
) -> None:
    cards = models_client.get("/v1/models", headers=auth_headers).json()["data"]
    ids = [c["id"] for c in cards]
    assert ids == ["gemma3-270m", "legacy", "default", "small", "big", "large"]
    assert {c["id"]: c["profile"] for c in cards}["small"] == "gemma3-270m"
    admin_fake.down = True
    models_client.app.state[MODELS_KEY].router.forget()
    cards = models_client.get("/v1/models", headers=auth_headers).json()["data"]
    assert [c["id"] for c in cards] == ["gemma3-270m", "legacy"]


# --- the SSE stream ----------------------------------------------------------------------
async def _next(frames: Any) -> bytes:
    return bytes(await asyncio.wait_for(anext(frames), 2))


async def test_events_stream_snapshot_changes_and_shutdown(
    settings: ApiSettings, gateway: FakeGateway, admin_fake: FakeModelAdmin
) -> None:
    streams = StreamTable()
    service = ModelsService(
        settings, admin_fake, ModelRouter(settings, admin_fake), gateway.workers, streams
    )
    frames = await service.open_events()
    snapshot = await _next(frames)
    assert snapshot.startswith(b'event: snapshot\ndata: {"available":true')
    feed = admin_fake.feeds[0]
    feed.queue.put_nowait(SwapStatus(command_id="c1", worker_id="w1", phase="loading", at=1.0))
    feed.queue.put_nowait(AdminChange(kind="aliases", aliases=AliasOverrides(), at=2.0))
    assert (await _next(frames)).startswith(b'event: swap\ndata: {"command_id":"c1"')
    assert (await _next(frames)).startswith(b"event: aliases\n")
    streams.begin_shutdown()
    assert (await _next(frames)).startswith(b"event: end\n")
    with pytest.raises(StopAsyncIteration):
        await _next(frames)
    await asyncio.sleep(0)
    assert feed.closed


async def test_events_stream_closes_its_feed_on_disconnect(
    settings: ApiSettings, gateway: FakeGateway, admin_fake: FakeModelAdmin
) -> None:
    admin_fake.down = True  # snapshot unavailable, the feed still works
    service = ModelsService(
        settings, admin_fake, ModelRouter(settings, admin_fake), gateway.workers, StreamTable()
    )
    admin_fake.down = False
    frames = await service.open_events()
    admin_fake.down = True
    assert b'"available":false' in await _next(frames)
    pending = asyncio.ensure_future(anext(frames))
    await asyncio.sleep(0.05)
    pending.cancel()  # what the server does when the client goes away
    with pytest.raises(asyncio.CancelledError):
        await pending
    await frames.aclose()
    await asyncio.sleep(0)
    assert admin_fake.feeds[0].closed


def test_routing_settings_from_env() -> None:
    env = {"JWT_SECRET": "x" * 40}
    assert ApiSettings.from_env(env).model_admin_routing == "auto"
    off = ApiSettings.from_env(
        env
        | {"MODEL_ADMIN_ROUTING": "OFF", "MODEL_RESOLVE_TTL_S": "0", "MODEL_ADMIN_TIMEOUT_S": "1"}
    )
    assert (off.model_admin_routing, off.model_resolve_ttl_s, off.model_admin_timeout_s) == (
        "off",
        0.0,
        1.0,
    )
    with pytest.raises(ValueError, match="MODEL_ADMIN_ROUTING"):
        ApiSettings.from_env(env | {"MODEL_ADMIN_ROUTING": "maybe"})


# --- route cache: long for answers, short for "unknown" / "down", dropped on changes ----
async def test_router_caches_answers_long_and_unknown_names_briefly(
    settings: ApiSettings, admin_fake: FakeModelAdmin
) -> None:
    now = [100.0]
    settings = replace(settings, models=("gemma3-270m",), model_resolve_ttl_s=30.0)
    router = ModelRouter(settings, admin_fake, clock=lambda: now[0])

    def resolves() -> int:
        return sum(isinstance(call, ResolveModel) for call in admin_fake.calls)

    assert (await router.route("small")).group == "gemma3-270m"
    with pytest.raises(ApiError):
        await router.route("later")  # unknown to model-admin and not in MODELS
    assert resolves() == 2
    now[0] += SHORT_TTL_S + 0.1
    admin_fake.groups["later"] = "later-group"  # a profile added meanwhile
    assert (await router.route("small")).group == "gemma3-270m"  # still cached
    assert (await router.route("later")).group == "later-group"  # asked again
    assert resolves() == 3
    admin_fake.aliases["small"] = "big"  # re-pointed; the announcement drops the cache
    router.forget()
    assert (await router.route("small")).group == "big-group"
    now[0] += 31.0
    assert (await router.route("later")).group == "later-group"  # TTL bounds a missed one
    assert resolves() == 5


async def test_router_asks_again_soon_after_model_admin_was_down(
    settings: ApiSettings, admin_fake: FakeModelAdmin
) -> None:
    now = [0.0]
    settings = replace(settings, models=("gemma3-270m",), model_resolve_ttl_s=30.0)
    router = ModelRouter(settings, admin_fake, clock=lambda: now[0])
    admin_fake.down = True
    assert (await router.route("gemma3-270m")).via == "whitelist"
    admin_fake.down = False
    assert (await router.route("gemma3-270m")).via == "whitelist"  # not asked yet
    now[0] += SHORT_TTL_S + 0.1
    assert (await router.route("gemma3-270m")).via == "model-admin"


def test_profile_sampling_defaults_fill_what_the_chat_leaves_unset(
    models_client: TestClient[Any],
    auth_headers: dict[str, str],
    gateway: FakeGateway,
    admin_fake: FakeModelAdmin,
) -> None:
    """FR-3: a profile's default temperature / top_p / max_tokens apply to chats that do
    not set them; the request's own values win; max_tokens is capped at the api's limit."""
    gateway.workers.observe(ready_status("w-big", "big-group"))
    admin_fake.sampling["big"] = ProfileSampling(temperature=0.2, top_p=0.9, max_tokens=9000)
    bare = {"model": "large", "messages": [{"role": "user", "content": "hi"}]}
    assert models_client.post("/api/chat", json=bare, headers=auth_headers).status_code == 200
    sampling = gateway.requests[-1].sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (0.2, 0.9, 512)
    body = {
        "model": "large",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 1.1,
        "max_tokens": 7,
    }
    assert models_client.post("/api/chat", json=body, headers=auth_headers).status_code == 200
    sampling = gateway.requests[-1].sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (1.1, 0.9, 7)
    legacy = bare | {"model": "legacy"}  # a MODELS name model-admin does not know
    assert models_client.post("/api/chat", json=legacy, headers=auth_headers).status_code == 200
    sampling = gateway.requests[-1].sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (None, None, None)
