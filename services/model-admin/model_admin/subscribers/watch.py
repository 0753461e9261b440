"""What model-admin watches, each in its own task, each feeding ``ModelAdmin`` / ``Fleet``:

- ``worker_status`` bucket (KV watch) -> ``Fleet.update``; an ``AdminChange`` when a
  worker's state, profile or load changes; a sweep every ``sweep_interval_s`` marks a
  silent worker gone (and announces it).
- ``model_desired_state`` and ``model_aliases`` buckets (KV watch): what other model-admin
  instances wrote.

nats-py rather than FastStream: its KV watch subscriber drops the marker that says a
bucket's current content is all in, which ``start`` waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from contracts import subjects
from contracts.admin import AdminChange, AliasOverrides
from contracts.codec import (
    DecodeErrors,
    decode_desired_state,
    decode_worker_status,
)
from model_admin.service import ChangeSink, ModelAdmin

log = logging.getLogger(__name__)
_DELETED = ("DEL", "PURGE")
_decode_aliases = msgspec.json.Decoder(AliasOverrides).decode


def _entry_time(created: Any, fallback: float) -> float:
    """The server's timestamp of a KV entry (nats-py gives a datetime), else ``fallback``."""
    if isinstance(created, datetime.datetime):
        return min(created.timestamp(), fallback)
    return fallback


class Watchers:
    def __init__(
        self,
        js: JetStreamContext,
        admin: ModelAdmin,
        changes: ChangeSink,
        *,
        worker_kv: KeyValue,
        desired_kv: KeyValue,
        aliases_kv: KeyValue,
        sweep_interval_s: float,
    ) -> None:
        self._js = js
        self._admin = admin
        self._changes = changes
        self._worker_kv = worker_kv
        self._desired_kv = desired_kv
        self._aliases_kv = aliases_kv
        self._sweep_interval_s = sweep_interval_s
        self._started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        """Load the buckets' current content first (so the first query sees it), then
        follow them."""
        for name, kv, on_entry in (
            (subjects.DESIRED_STATE_BUCKET, self._desired_kv, self._on_desired),
            (subjects.MODEL_ALIASES_BUCKET, self._aliases_kv, self._on_aliases),
            (subjects.WORKER_STATUS_BUCKET, self._worker_kv, self._on_worker),
        ):
            watcher = await kv.watchall()
            self._closers.append(watcher.stop)
            loaded = asyncio.get_running_loop().create_future()
            self._spawn(self._follow(watcher, on_entry, loaded), f"watch-{name}")
            await loaded
        self._spawn(self._sweep(), "gone-sweep")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)

    async def stop(self, timeout_s: float = 0.0) -> None:
        """Close the watchers and end their tasks (a watch has no work in hand to finish:
        ``timeout_s`` is not needed)."""
        self._stopping.set()
        for close in self._closers:
            with contextlib.suppress(Exception):
                await close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _follow(
        self,
        watcher: KeyValue.KeyWatcher,
        on_entry: Callable[[KeyValue.Entry, bool], Awaitable[None]],
        loaded: asyncio.Future[None],
    ) -> None:
        async for entry in watcher:
            if entry is None:  # the initial values are all in
                if not loaded.done():
                    loaded.set_result(None)
                continue
            try:
                await on_entry(entry, loaded.done())
            except Exception:
                log.exception("watch %s/%s failed", entry.bucket, entry.key)
        if not loaded.done():
            loaded.set_result(None)

    async def _on_worker(self, entry: KeyValue.Entry, live: bool) -> None:
        fleet = self._admin.fleet
        if entry.operation in _DELETED or not entry.value:
            fleet.remove(entry.key)
            return
        try:
            status = decode_worker_status(entry.value)
        except DecodeErrors as exc:
            log.warning("worker_status/%s: malformed entry: %s", entry.key, exc)
            return
        now = time.time()
        view = fleet.update(status, now if live else _entry_time(entry.created, now))
        if view is not None and live:
            await self._announce(AdminChange(kind="worker", worker=view, at=now))

    async def _on_desired(self, entry: KeyValue.Entry, live: bool) -> None:
        desired = self._admin.fleet.desired
        if entry.operation in _DELETED or not entry.value:
            for group in [g for g in desired if subjects.subject_token(g) == entry.key]:
                del desired[group]
            return
        try:
            state = decode_desired_state(entry.value)
        except DecodeErrors as exc:
            log.warning("model_desired_state/%s: malformed entry: %s", entry.key, exc)
            return
        desired[state.group] = state

    async def _on_aliases(self, entry: KeyValue.Entry, live: bool) -> None:
        if entry.key != subjects.ALIASES_KEY:
            return
        if entry.operation in _DELETED or not entry.value:
            self._admin.catalog.set_overrides({})
            return
        try:
            overrides = _decode_aliases(entry.value)
        except DecodeErrors as exc:
            log.warning("model_aliases: malformed entry: %s", exc)
            return
        self._admin.catalog.set_overrides(overrides.aliases)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            now = time.time()
            for view in self._admin.fleet.sweep(now):
                log.warning(
                    "worker %s (group %s) is gone: silent for %.1fs",
                    view.status.worker_id,
                    view.status.model,
                    view.age_s,
                )
                await self._announce(AdminChange(kind="worker", worker=view, at=now))

    async def _announce(self, change: AdminChange) -> None:
        try:
            await self._changes.publish(change)
        except Exception as exc:
            log.debug("change not announced: %r", exc)
