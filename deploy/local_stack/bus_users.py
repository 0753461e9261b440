"""The bus users of a stack whose nats-server the launcher starts: a password per user of
``contracts.permissions``, made once and kept in the data directory (0600, in a 0700
folder), and the nats-server configuration that admits only those users, each with its
permissions.

A service gets its user in ``NATS_URL`` (``nats://api:<password>@127.0.0.1:<port>``);
logs show that URL without the password (``contracts.bus.redacted``). An operator's NATS
CLI uses the ``operator`` user: ``nats --user operator --password <users.json's> ...``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from contracts.permissions import IDENTITIES, PERMISSIONS

USERS_FILE = "users.json"
SERVER_CONFIG_FILE = "auth.conf"


class BusUsers:
    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords

    @classmethod
    def load_or_create(cls, directory: Path) -> BusUsers:
        """The users kept in ``directory`` (a user missing from the file is added)."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        path = directory / USERS_FILE
        stored: dict[str, str] = {}
        if path.exists():
            stored = msgspec.json.decode(path.read_bytes(), type=dict[str, str])
        passwords = {name: stored.get(name) or secrets.token_urlsafe(24) for name in IDENTITIES}
        if passwords != stored:
            _write_private(path, json.dumps(passwords, indent=2))
        path.chmod(0o600)
        return cls(passwords)

    def url(self, identity: str, server_url: str) -> str:
        """``server_url`` (``nats://host:port``) with ``identity``'s user and password."""
        split = urlsplit(server_url)
        return split._replace(
            netloc=f"{identity}:{self.passwords[identity]}@{split.netloc}"
        ).geturl()

    def server_config(self) -> str:
        """The ``authorization`` block of nats-server's configuration (JSON is a valid
        nats-server configuration)."""
        users = []
        for identity in IDENTITIES:
            permissions = PERMISSIONS[identity]
            rules: dict[str, object] = {
                "publish": {"allow": list(permissions.publish)},
                "subscribe": {"allow": list(permissions.subscribe)},
            }
            if permissions.responds:
                rules["allow_responses"] = True
            users.append(
                {"user": identity, "password": self.passwords[identity], "permissions": rules}
            )
        return json.dumps({"authorization": {"users": users}}, indent=2)

    def write_server_config(self, directory: Path) -> Path:
        path = directory / SERVER_CONFIG_FILE
        _write_private(path, self.server_config())
        return path


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only from the first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
