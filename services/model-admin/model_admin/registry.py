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
from typing import Literal

import msgspec

from contracts.subjects import subject_token
from model_admin.profiles import Profile

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


def decode_profile(raw: bytes | str, *, fmt: Literal["toml", "json"], source: str) -> Profile:
    """One profile from TOML or JSON text; ``ProfileError`` says which field is wrong."""
    try:
        if fmt == "toml":
            return msgspec.toml.decode(raw, type=Profile)
        return msgspec.json.decode(raw, type=Profile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ProfileError(f"{source}: {exc}") from None


class ProfileRegistry:
    """Immutable: ``with_profile`` returns a new registry (admins add profiles later)."""

    def __init__(self, profiles: Iterable[Profile], sources: Mapping[str, str] | None = None):
        self._by_id: dict[str, Profile] = {}
        self._by_name: dict[str, Profile] = {}
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

    def get(self, name: str) -> Profile:
        """The profile with this id or alias; ``UnknownProfile`` if none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownProfile(name) from None

    def find(self, name: str) -> Profile | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Profile]:
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

    def whitelisted(self) -> list[Profile]:
        """The profiles users may choose (FR-3)."""
        return [p for p in self._by_id.values() if p.whitelisted]

    def with_profile(self, profile: Profile) -> ProfileRegistry:
        """A registry with ``profile`` added; ``ProfileError`` on an id or alias clash."""
        return ProfileRegistry([*self._by_id.values(), profile])


def load_profiles(directory: Path | str = DEFAULT_PROFILE_DIR) -> ProfileRegistry:
    """Every ``*.toml`` / ``*.json`` profile in ``directory`` (not recursive), validated."""
    root = Path(directory)
    if not root.is_dir():
        raise ProfileError(f"{root}: not a directory")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in PROFILE_SUFFIXES)
    profiles: list[Profile] = []
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
