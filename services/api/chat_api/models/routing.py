"""``ModelRouter``: which worker group a chat's model name goes to.

Order (``MODEL_ADMIN_ROUTING=auto``):

1. model-admin's ``aliases.resolve`` (profile id or alias, re-pointable by admins) ->
   the group of the profile (``ResolvedModel.group``); a profile no group is meant to run
   (``served`` false) is 503 ``model_unavailable``; a profile that is not whitelisted is
   404 ``model_not_found`` (FR-3);
2. a name model-admin does not know, or any name while model-admin does not answer
   (not running, timeout): the ``MODELS`` whitelist, the name being its own group (the
   behaviour before model-admin existed);
3. otherwise 404 ``model_not_found``; but while a model-admin that answered this api
   before does not answer, 503 ``service_unavailable`` (Retry-After): the name may be an
   alias or profile it would resolve, and a 404 tells clients not to retry. (A model-admin
   never seen may simply not be deployed: then the whitelist is all there is.)

Resolved names are kept ``MODEL_RESOLVE_TTL_S`` and dropped as soon as model-admin
announces a desired-state or alias change (``chat_api.cache_invalidation``), so a chat
costs no request-reply on most requests. "No such name" and "model-admin is not
answering" are kept only ``SHORT_TTL_S``: a profile added or a model-admin restarted is
seen within seconds. ``MODEL_ADMIN_ROUTING=off`` is step 2 alone. Whether a live worker
of the group is ready is checked by the caller against its own worker registry (fresher
than the cache).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from chat_api.errors import ApiError
from chat_api.model_admin_client import ModelAdmin, ModelAdminUnavailable
from chat_api.settings import ApiSettings
from contracts.admin import ListProfiles, ProfileList, ProfileSampling, ResolvedModel, ResolveModel
from contracts.errors import ErrorCode

log = logging.getLogger("chat_api.models")

RETRY_AFTER_S = "5"

SHORT_TTL_S = 2.0
"""How long an unknown name, or model-admin not answering, is kept (at most)."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    """What the chat asked for (or the default model)."""
    group: str
    """The served model name: ``request_subject(group)``, the workers' heartbeat ``model``."""
    profile_id: str | None = None
    """None: routed by the ``MODELS`` whitelist."""
    via: Literal["model-admin", "whitelist"] = "whitelist"
    sampling: ProfileSampling | None = None
    """The profile's sampling defaults (FR-3); None: the worker's own defaults apply."""


_UNKNOWN = object()
"""Cached: model-admin answered that it knows no such name."""
_NOT_ANSWERING = object()
"""Model-admin is asked but does not answer now (not cached: ``_down_until`` is)."""


def whitelist_route(settings: ApiSettings, name: str) -> Route:
    if name not in settings.models:
        raise ApiError(
            404,
            ErrorCode.MODEL_NOT_FOUND,
            f"model {name!r} does not exist; available: {', '.join(settings.models)}",
            param="model",
        )
    return Route(name=name, group=name)


class ModelRouter:
    def __init__(
        self,
        settings: ApiSettings,
        admin: ModelAdmin | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.admin = admin if settings.model_admin_routing == "auto" else None
        self._clock = clock
        self._ttl = settings.model_resolve_ttl_s
        self._cache: dict[str, tuple[float, ResolvedModel | object]] = {}
        self._down_until = 0.0
        self._model_admin_seen = False
        """Model-admin answered this process at least once (it is deployed)."""

    @property
    def asks_model_admin(self) -> bool:
        """Model-admin is in use and not known to be down right now."""
        return self.admin is not None and self._clock() >= self._down_until

    def _mark_down(self, why: BaseException) -> None:
        if self._clock() >= self._down_until:
            log.info("model-admin not answering (%r); routing by MODELS for now", why)
        self._down_until = self._clock() + max(min(self._ttl, SHORT_TTL_S), 0.5)

    async def _resolve(self, name: str) -> ResolvedModel | object | None:
        """model-admin's answer, ``_UNKNOWN``, ``_NOT_ANSWERING``, or None (routing off)."""
        if self.admin is None:
            return None
        now = self._clock()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        if now < self._down_until:
            return _NOT_ANSWERING
        result: ResolvedModel | object
        try:
            result = await self.admin.resolve(ResolveModel(name=name))
        except ModelAdminUnavailable as exc:
            self._mark_down(exc)
            return _NOT_ANSWERING
        except ApiError as exc:
            if exc.status_code not in (400, 404):
                raise
            result = _UNKNOWN
        self._model_admin_seen = True
        ttl = self._ttl if isinstance(result, ResolvedModel) else min(self._ttl, SHORT_TTL_S)
        if ttl > 0:
            if len(self._cache) > 1024:  # names are client input: bound the cache
                self._cache.clear()
            self._cache[name] = (now + ttl, result)
        return result

    async def route(self, model: str | None) -> Route:
        name = model or self.settings.default_model
        resolved = await self._resolve(name)
        if isinstance(resolved, ResolvedModel):
            if not resolved.whitelisted:
                raise ApiError(
                    404,
                    ErrorCode.MODEL_NOT_FOUND,
                    f"model {name!r} is not offered to users; an admin can whitelist it",
                    param="model",
                )
            if not resolved.served:
                raise ApiError(
                    503,
                    ErrorCode.MODEL_UNAVAILABLE,
                    f"model {name!r} (profile {resolved.profile_id!r}) is not active on any "
                    "worker group; an admin can activate it",
                    headers={"Retry-After": RETRY_AFTER_S},
                )
            return Route(
                name=name,
                group=resolved.group,
                profile_id=resolved.profile_id,
                via="model-admin",
                sampling=resolved.sampling,
            )
        if (
            resolved is _NOT_ANSWERING
            and self._model_admin_seen
            and name not in self.settings.models
        ):
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                f"model {name!r} cannot be resolved now (model-admin is not answering); "
                "retry later",
                headers={"Retry-After": RETRY_AFTER_S},
            )
        return whitelist_route(self.settings, name)

    async def profiles(self) -> ProfileList | None:
        """The profiles users may pick, or None (routing off, model-admin not answering)."""
        if not self.asks_model_admin:
            return None
        assert self.admin is not None
        try:
            return await self.admin.list_profiles(ListProfiles(admin=False))
        except ModelAdminUnavailable as exc:
            self._mark_down(exc)
            return None

    def forget(self) -> None:
        """Drop every cached answer (an admin changed an alias or a desired state here)."""
        self._cache.clear()
        self._down_until = 0.0
