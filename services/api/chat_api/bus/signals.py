"""The non-chunk items of a feed: one type per thing a relay must react to. The relay
pushes most of them itself (timers, the cancel route, shutdown, a lost worker); the
gateway pushes ``Resync`` to every open feed after a NATS reconnect."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.inference import CancelReason


@dataclass(frozen=True, slots=True)
class Deadline:
    """The request passed its deadline."""


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The request is to be cancelled, for ``reason``."""

    reason: CancelReason


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The api is shutting down."""


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """The worker generating the request stopped heartbeating; ``detail`` says which."""

    detail: str


@dataclass(frozen=True, slots=True)
class Resync:
    """Chunks may have been lost on the wire: re-read what came after the last one."""


@dataclass(frozen=True, slots=True)
class KeepaliveTick:
    """A keepalive period passed: say something if nothing arrived meanwhile."""


Signal = Deadline | Cancelled | Shutdown | WorkerLost | Resync | KeepaliveTick
