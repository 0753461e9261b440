"""``python -m chat_api``: serve the api with uvicorn on GATEWAY_HOST:GATEWAY_PORT.

On SIGTERM / SIGINT every open stream ends at once with a ``shutting_down`` error (and its
cancel is published) so uvicorn's graceful shutdown does not wait on long streams; then
the lifespan drains NATS. A bad setting prints one line naming the variable and exits 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Iterator
from types import FrameType

import uvicorn
from litestar import Litestar

from chat_api.app import create_app
from chat_api.chat import ChatService
from chat_api.lifespan import STATE_KEY
from chat_api.settings import ApiSettings
from env_settings import SettingsError


class ApiServer(uvicorn.Server):  # type: ignore[misc]
    def __init__(self, config: uvicorn.Config, app: Litestar) -> None:
        super().__init__(config)
        self.chat_app = app
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                # uvicorn re-raises the captured SIGTERM / SIGINT after a graceful shutdown
                # (exit status -15); a drained api exits 0 like the other services.
                self._captured_signals.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        service = self.chat_app.state.get(STATE_KEY)
        if isinstance(service, ChatService) and self.loop is not None:
            self.loop.call_soon_threadsafe(service.streams.begin_shutdown)
        super().handle_exit(sig, frame)


def main() -> int:
    try:
        settings = ApiSettings.from_env()
    except SettingsError as exc:
        print(f"chat_api: bad setting: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Our structured handler (create_app) writes uvicorn's records too; the request
        # log (chat_api.request_log) replaces uvicorn's access log.
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 1,
    )
    ApiServer(config, app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
