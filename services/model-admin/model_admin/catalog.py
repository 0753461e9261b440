"""The catalog: shipped profiles, profiles admins added (a data-dir overlay), re-pointed aliases.

No NATS here. Shipped profiles (version-controlled files) are read-only; an added profile
is validated by the registry and written to ``<overlay>/<id>.json``, so it is back after
a restart. An alias override (``alias -> profile id``) wins over the aliases in the files.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

from contracts.admin import ProfileSource, ProfileSpec
from contracts.errors import ErrorCode
from model_admin.errors import AdminError
from model_admin.registry import (
    ProfileError,
    ProfileRegistry,
    UnknownProfile,
    decode_profile,
    load_profiles,
)

log = logging.getLogger(__name__)

_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}")


class Catalog:
    def __init__(self, shipped: ProfileRegistry, overlay_dir: Path | None = None) -> None:
        self._shipped = frozenset(shipped.ids)
        self._registry = shipped
        self._overlay_dir = overlay_dir
        self._overrides: dict[str, str] = {}

    @classmethod
    def load(cls, profiles_dir: Path, overlay_dir: Path | None) -> Catalog:
        """Shipped profiles (all or nothing) plus every overlay file that still fits
        (one that clashes with a shipped profile is skipped with an error logged)."""
        catalog = cls(load_profiles(profiles_dir), overlay_dir)
        if overlay_dir is not None and overlay_dir.is_dir():
            for path in sorted(overlay_dir.glob("*.json")):
                try:
                    profile = decode_profile(path.read_bytes(), fmt="json", source=path.name)
                    catalog._registry = catalog._registry.with_profile(profile)
                except (ProfileError, OSError) as exc:
                    log.error("added profile %s skipped: %s", path, exc)
        return catalog

    @property
    def registry(self) -> ProfileRegistry:
        return self._registry

    @property
    def overrides(self) -> Mapping[str, str]:
        return dict(self._overrides)

    def source(self, profile_id: str) -> ProfileSource:
        return "shipped" if profile_id in self._shipped else "added"

    def profiles(self) -> list[ProfileSpec]:
        return list(self._registry)

    # --- names -------------------------------------------------------------------------
    def resolve(self, name: str) -> ProfileSpec:
        """The profile ``name`` means now: a re-pointed alias first, then ids and aliases
        of the files. ``model_not_found`` if none."""
        target = self._overrides.get(name, name)
        try:
            return self._registry.get(target)
        except UnknownProfile:
            if target != name:
                raise AdminError(
                    ErrorCode.MODEL_NOT_FOUND,
                    f"alias {name!r} points at {target!r}, which is no longer a profile",
                ) from None
            raise AdminError(
                ErrorCode.MODEL_NOT_FOUND, f"no profile or alias named {name!r}"
            ) from None

    def names_of(self, profile_id: str) -> list[str]:
        """Every alias that resolves to ``profile_id`` now (not the id itself)."""
        profile = self._registry.get(profile_id)
        names = [a for a in profile.aliases if a not in self._overrides]
        names += sorted(a for a, target in self._overrides.items() if target == profile_id)
        return names

    def set_overrides(self, overrides: Mapping[str, str]) -> None:
        """Adopt the overrides kept in the KV bucket (unknown targets are kept: they may be
        a profile another instance added; ``resolve`` names the problem)."""
        self._overrides = dict(overrides)

    def point_alias(self, alias: str, target: str | None) -> dict[str, str]:
        """The overrides after pointing ``alias`` at ``target`` (None: drop the override).
        Does not change this catalog: the caller stores the result, then adopts it."""
        if not _ALIAS.fullmatch(alias):
            raise AdminError(
                ErrorCode.INVALID_REQUEST,
                f"alias {alias!r} must be 1-128 characters of letters, digits and . _ / : -",
            )
        if alias in self._registry.ids:
            raise AdminError(
                ErrorCode.PROFILE_READ_ONLY,
                f"{alias!r} is a profile id; only aliases can be re-pointed",
            )
        overrides = dict(self._overrides)
        if target is None:
            overrides.pop(alias, None)
            return overrides
        try:
            profile = self._registry.get(self._overrides.get(target, target))
        except UnknownProfile:
            raise AdminError(
                ErrorCode.MODEL_NOT_FOUND, f"no profile or alias named {target!r}"
            ) from None
        overrides[alias] = profile.id
        return overrides

    # --- adding ------------------------------------------------------------------------
    def add(self, raw: bytes) -> ProfileSpec:
        """Validate, persist and register an admin's profile (JSON)."""
        try:
            profile = decode_profile(raw, fmt="json", source="profile")
        except ProfileError as exc:
            raise AdminError(ErrorCode.PROFILE_INVALID, str(exc)) from None
        for name in profile.names:
            owner = self._registry.find(name)
            if owner is not None:
                what = "id" if name == profile.id else "alias"
                code = (
                    ErrorCode.PROFILE_READ_ONLY if owner.id in self._shipped else ErrorCode.CONFLICT
                )
                raise AdminError(
                    code,
                    f"{what} {name!r} is already taken by the {self.source(owner.id)} "
                    f"profile {owner.id!r}",
                )
            if name in self._overrides:
                raise AdminError(
                    ErrorCode.CONFLICT,
                    f"{name!r} is a re-pointed alias (to {self._overrides[name]!r})",
                )
        try:
            registry = self._registry.with_profile(profile)
        except ProfileError as exc:
            raise AdminError(ErrorCode.CONFLICT, str(exc)) from None
        self._persist(profile)
        self._registry = registry
        return profile

    def _persist(self, profile: ProfileSpec) -> None:
        if self._overlay_dir is None:
            return
        self._overlay_dir.mkdir(parents=True, exist_ok=True)
        path = self._overlay_dir / f"{profile.id}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(profile)))
        os.replace(tmp, path)
