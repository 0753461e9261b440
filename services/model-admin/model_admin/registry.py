"""The profile registry: every profile by id and by alias, loaded from version-controlled files.

``load_profiles(directory)`` reads ``*.toml`` and ``*.json`` (one profile a file) and
refuses the whole set with ``ProfileError`` naming the file and the reason: a file that
does not decode or validate, a duplicate id, an alias that is another profile's id or
alias, or two ids that become the same NATS subject token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import msgspec

from contracts.admin import ProfileSpec
from contracts.subjects import subject_token

PROFILE_SUFFIXES = (".toml", ".json")
DEFAULT_PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
"""``services/model-admin/profiles``: the shipped, version-controlled profiles."""


class ProfileError(ValueError):
    """A profile, or a set of profiles, that cannot be used; the message says why."""


class UnknownProfile(KeyError):
    """No profile has this id or alias."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no profile or alias named {self.name!r}"


def decode_profile(raw: bytes | str, *, fmt: Literal["toml", "json"], source: str) -> ProfileSpec:
    """One profile from TOML or JSON text; ``ProfileError`` says which field is wrong.

    Stricter than the wire: a field the schema does not have (a typo) is refused too."""
    try:
        data = msgspec.toml.decode(raw) if fmt == "toml" else msgspec.json.decode(raw)
        _refuse_unknown_fields(data, msgspec.inspect.type_info(ProfileSpec), "$")
        return msgspec.convert(data, ProfileSpec)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ProfileError(f"{source}: {exc}") from None


def _refuse_unknown_fields(data: Any, schema: msgspec.inspect.Type, path: str) -> None:
    """``msgspec.ValidationError`` worded as msgspec words it, for the first key of an
    object (nested ones too) that its Struct does not have."""
    if not isinstance(data, dict) or not isinstance(schema, msgspec.inspect.StructType):
        return
    fields = {f.encode_name: f.type for f in schema.fields}
    for key, value in data.items():
        if key not in fields:
            where = "" if path == "$" else f" - at `{path}`"
            raise msgspec.ValidationError(f"Object contains unknown field `{key}`{where}")
        _refuse_unknown_fields(value, fields[key], f"{path}.{key}")


class ProfileRegistry:
    """Immutable: ``with_profile`` returns a new registry (admins add profiles later)."""

    def __init__(self, profiles: Iterable[ProfileSpec], sources: Mapping[str, str] | None = None):
        self._by_id: dict[str, ProfileSpec] = {}
        self._by_name: dict[str, ProfileSpec] = {}
        tokens: dict[str, str] = {}
        where = dict(sources or {})
        for profile in profiles:
            label = where.get(profile.id, profile.id)
            if profile.id in self._by_id:
                raise ProfileError(f"{label}: profile id {profile.id!r} is defined twice")
            token = subject_token(profile.id)
            if token in tokens:
                raise ProfileError(
                    f"{label}: ids {tokens[token]!r} and {profile.id!r} map to the same "
                    f"subject token {token!r}"
                )
            for name in profile.names:
                owner = self._by_name.get(name)
                if owner is None:
                    continue
                role = "id" if name == owner.id else "an alias"
                what = "id" if name == profile.id else "alias"
                raise ProfileError(
                    f"{label}: {what} {name!r} of profile {profile.id!r} is already {role} "
                    f"of profile {owner.id!r}"
                )
            tokens[token] = profile.id
            self._by_id[profile.id] = profile
            for name in profile.names:
                self._by_name[name] = profile

    def get(self, name: str) -> ProfileSpec:
        """The profile with this id or alias; ``UnknownProfile`` if none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownProfile(name) from None

    def find(self, name: str) -> ProfileSpec | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[ProfileSpec]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    @property
    def names(self) -> Mapping[str, str]:
        """Every id and alias -> the profile id it names."""
        return MappingProxyType({name: p.id for name, p in self._by_name.items()})

    def whitelisted(self) -> list[ProfileSpec]:
        """The profiles users may choose (FR-3)."""
        return [p for p in self._by_id.values() if p.whitelisted]

    def with_profile(self, profile: ProfileSpec) -> ProfileRegistry:
        """A registry with ``profile`` added; ``ProfileError`` on an id or alias clash."""
        return ProfileRegistry([*self._by_id.values(), profile])


def load_profiles(directory: Path | str = DEFAULT_PROFILE_DIR) -> ProfileRegistry:
    """Every ``*.toml`` / ``*.json`` profile in ``directory`` (not recursive), validated."""
    root = Path(directory)
    if not root.is_dir():
        raise ProfileError(f"{root}: not a directory")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in PROFILE_SUFFIXES)
    profiles: list[ProfileSpec] = []
    sources: dict[str, str] = {}
    for path in files:
        fmt: Literal["toml", "json"] = "toml" if path.suffix == ".toml" else "json"
        profile = decode_profile(path.read_bytes(), fmt=fmt, source=path.name)
        if profile.id in sources:
            raise ProfileError(
                f"{path.name}: profile id {profile.id!r} is defined twice "
                f"({sources[profile.id]}, {path.name})"
            )
        sources[profile.id] = path.name
        profiles.append(profile)
    return ProfileRegistry(profiles, sources)
