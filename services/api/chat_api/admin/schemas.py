"""Bodies of the admin routes."""

from __future__ import annotations

import msgspec

from contracts.accounts import Role, UserView


class UserPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role | None = None
    disabled: bool | None = None


class UserPage(msgspec.Struct, kw_only=True):
    items: list[UserView]
    total: int
