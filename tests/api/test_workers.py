from __future__ import annotations

import msgspec

from chat_api.workers import WorkerRegistry
from tests.api.fake_gateway import ready_status


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ready_fresh_worker_serves_its_model() -> None:
    clock = Clock()
    registry = WorkerRegistry(stale_after_s=3.0, clock=clock)
    registry.observe(ready_status("w1", "m"))
    assert registry.serves("m")
    assert not registry.serves("other")
    clock.now += 3.5
    assert not registry.serves("m")
    assert registry.views()[0].live is False


def test_only_ready_serves_new_work() -> None:
    registry = WorkerRegistry()
    registry.observe(msgspec.structs.replace(ready_status("w1", "m"), state="draining"))
    assert not registry.serves("m")
    assert registry.is_live("w1")


def test_a_swapping_worker_accepts_requests_that_then_wait_in_the_queue() -> None:
    clock = Clock()
    registry = WorkerRegistry(stale_after_s=3.0, clock=clock)
    ready = ready_status("w1", "m")
    registry.observe(
        msgspec.structs.replace(ready, state="loading", command_id="c1", swapping=True)
    )
    assert registry.accepts("m")
    assert not registry.serves("m")  # /readyz still says: not ready now
    registry.observe(
        msgspec.structs.replace(ready, state="draining", command_id="c1", swapping=True)
    )
    assert registry.accepts("m")
    clock.now += 3.5  # a swapping worker that goes silent is gone like any other
    assert not registry.accepts("m")


def test_first_load_and_shutdown_drain_do_not_accept() -> None:
    registry = WorkerRegistry()
    ready = ready_status("w1", "m")
    registry.observe(msgspec.structs.replace(ready, state="loading"))
    assert not registry.accepts("m")
    registry.observe(msgspec.structs.replace(ready, state="draining"))
    assert not registry.accepts("m")
    # A worker that swapped before keeps its last command id; stopping, it does not accept.
    registry.observe(msgspec.structs.replace(ready, state="draining", command_id="c1"))
    assert not registry.accepts("m")
    registry.observe(ready)
    assert registry.accepts("m")


def test_watch_fires_once_on_stale_and_on_stopped() -> None:
    clock = Clock()
    registry = WorkerRegistry(stale_after_s=3.0, clock=clock)
    registry.observe(ready_status("w1", "m"))
    registry.observe(ready_status("w2", "m"))
    lost: list[str] = []
    registry.watch("w1", lambda worker_id, why: lost.append(worker_id))
    registry.watch("w2", lambda worker_id, why: lost.append(worker_id))
    registry.sweep()
    assert lost == []
    registry.observe(msgspec.structs.replace(ready_status("w2", "m"), state="stopped"))
    assert lost == ["w2"]
    assert [v.id for v in registry.views()] == ["w1"]
    clock.now += 3.1
    registry.sweep()
    registry.sweep()
    assert lost == ["w2", "w1"]


def test_unknown_watched_worker_is_lost_after_stale_window() -> None:
    clock = Clock()
    registry = WorkerRegistry(stale_after_s=3.0, clock=clock)
    lost: list[str] = []
    unwatch = registry.watch("ghost", lambda worker_id, why: lost.append(worker_id))
    clock.now += 1
    registry.sweep()
    assert lost == []
    clock.now += 2.5
    registry.sweep()
    assert lost == ["ghost"]
    unwatch()  # after firing: harmless


def test_unwatch_stops_callbacks() -> None:
    clock = Clock()
    registry = WorkerRegistry(stale_after_s=1.0, clock=clock)
    lost: list[str] = []
    unwatch = registry.watch("w", lambda worker_id, why: lost.append(worker_id))
    unwatch()
    clock.now += 5
    registry.sweep()
    assert lost == []
