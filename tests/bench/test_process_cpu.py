"""``bench.process_cpu`` on real processes: a service's own CPU and that of the engine it
started are counted apart (the engine by process group), and per-token figures follow."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.process_cpu import ENGINE, cpu_by_part, per_token_ms

BUSY = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"
SERVICE = (
    "import subprocess, sys, time\n"
    "engine = subprocess.Popen([sys.executable, '-c', {engine!r}])\n"
    + BUSY.format(s=0.2)
    + "time.sleep(30)\n"
)


def test_a_service_and_the_engine_it_started_are_counted_apart() -> None:
    engine = BUSY.format(s=0.6) + "time.sleep(30)\n"
    service = subprocess.Popen(
        [sys.executable, "-c", SERVICE.format(engine=engine)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            parts = cpu_by_part({"worker-1": service.pid}, engines=[service.pid])
            if parts[ENGINE] >= 0.55 and parts["worker-1"] >= 0.15:
                break
            assert time.monotonic() < deadline, parts
            time.sleep(0.1)
        assert parts["worker-1"] < 0.5  # its own time, not the engine's
        together = cpu_by_part({"worker-1": service.pid})  # not an engine: one group
        assert ENGINE not in together
        assert together["worker-1"] >= parts["worker-1"] + 0.5
    finally:
        subprocess.run(["pkill", "-g", str(service.pid)], check=False)
        service.wait()


def test_per_token_is_each_parts_difference_over_the_tokens() -> None:
    before = {"api": 1.0, ENGINE: 10.0}
    after = {"api": 1.5, ENGINE: 30.0, "nats-server": 0.2}
    assert per_token_ms(before, after, 1000) == {"api": 0.5, ENGINE: 20.0, "nats-server": 0.2}
    assert per_token_ms(before, after, 0) == {}
