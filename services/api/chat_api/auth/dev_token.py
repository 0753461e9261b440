"""Print a bearer token for the development admin user.

``python -m chat_api.auth.dev_token`` prints one explanatory line, then the token as the
LAST line (scripts take ``tail -n 1``). It uses the same secret as the api (JWT_SECRET, or
the one stored in DATA_DIR/jwt_secret).
"""

from __future__ import annotations

import sys

from chat_api.auth.tokens import issue_token
from chat_api.settings import ApiSettings
from env_settings import SettingsError

DEV_USER_ID = "dev-admin"
DEV_TOKEN_TTL_S = 365 * 24 * 3600.0


def dev_token(settings: ApiSettings) -> str:
    return issue_token(
        settings.jwt_secret,
        DEV_USER_ID,
        role="admin",
        ttl_s=DEV_TOKEN_TTL_S,
        issuer=settings.jwt_issuer,
    )


def main() -> int:
    try:
        settings = ApiSettings.from_env()
    except SettingsError as exc:
        print(f"dev_token: bad setting: {exc}", file=sys.stderr)
        return 2
    print(f"# development admin token (sub={DEV_USER_ID}, role=admin, valid 365 days):")
    print(dev_token(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
