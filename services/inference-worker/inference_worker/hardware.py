"""What this worker can give an engine (``WorkerHardware``), and whether a profile fits it.

CPU: the memory of ONE NUMA node (vLLM's CPU backend budgets ``gpu_memory_utilization`` x
one node's memory), from ``/sys/devices/system/node/node0/meminfo``, else the machine's
total memory (``os.sysconf``), count 1. CUDA: ``torch.cuda`` device count and each
device's total memory; asked only when the device is cuda (``WORKER_DEVICE=cuda``, or
``auto`` with the vllm engine and a GPU torch can see).

Whether a profile fits this hardware is model-admin's estimate, never computed here
(``FitCheck``): the verdict an ``ActivateProfile`` carries for this worker's hardware
(``checks``), else model-admin asked over the bus; the same numbers, the same reason text
as model-admin's own check. No verdict to be had (hardware unknown, model-admin silent or
without that profile): the swap goes on, with a warning.
"""

from __future__ import annotations

import logging
import os
import platform
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from contracts.admin import CompatibilityReport, HardwareCheck, ProfileSpec
from contracts.workers import Device, WorkerHardware
from inference_worker.settings import WorkerSettings

log = logging.getLogger(__name__)

GIB = 1024**3
_NODE_ROOT = Path("/sys/devices/system/node")
_MEMTOTAL = re.compile(r"MemTotal:\s+(\d+)\s*kB")


def resolve_device(settings: WorkerSettings) -> Device:
    if settings.device != "auto":
        return settings.device
    if settings.engine != "vllm":
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # no torch, a broken CUDA runtime: the CPU build
        return "cpu"


def numa_node_memory_gib(node_root: Path = _NODE_ROOT) -> float | None:
    """MemTotal of NUMA node 0 in GiB (None where sysfs does not say)."""
    try:
        text = (node_root / "node0" / "meminfo").read_text()
    except OSError:
        return None
    match = _MEMTOTAL.search(text)
    return None if match is None else int(match.group(1)) * 1024 / GIB


def _numa_nodes(node_root: Path = _NODE_ROOT) -> int | None:
    try:
        nodes = [p for p in node_root.iterdir() if re.fullmatch(r"node\d+", p.name)]
    except OSError:
        return None
    return len(nodes) or None


def _total_memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB


def cpu_hardware(node_root: Path = _NODE_ROOT) -> WorkerHardware:
    memory = numa_node_memory_gib(node_root) or _total_memory_gib()
    return WorkerHardware(
        device="cpu",
        count=1,
        memory_gib=round(memory, 2),
        name=platform.processor() or platform.machine(),
        numa_nodes=_numa_nodes(node_root),
        cpu_count=os.cpu_count(),
    )


def cuda_hardware() -> WorkerHardware:
    import torch

    count = torch.cuda.device_count()
    props = torch.cuda.get_device_properties(0)
    return WorkerHardware(
        device="cuda",
        count=count,
        memory_gib=round(props.total_memory / GIB, 2),
        name=str(props.name),
        cpu_count=os.cpu_count(),
    )


def detect_hardware(settings: WorkerSettings) -> WorkerHardware:
    """Blocking (torch import on cuda): call it in a thread."""
    if resolve_device(settings) == "cuda":
        return cuda_hardware()
    return cpu_hardware()


AskModelAdmin = Callable[[ProfileSpec, WorkerHardware], Awaitable[CompatibilityReport | None]]
"""model-admin's report for a profile on this hardware (None: no answer to be had)."""


def verdict_for(
    checks: Sequence[HardwareCheck], hardware: WorkerHardware
) -> CompatibilityReport | None:
    """The report among ``checks`` for ``hardware``, matched on what the estimate reads
    (device, count, memory each), not on the name."""
    wanted = (hardware.device, hardware.count, hardware.memory_gib)
    for check in checks:
        seen = check.hardware
        if (seen.device, seen.count, seen.memory_gib) == wanted:
            return check.report
    return None


class FitCheck:
    """Why a profile cannot load on this worker's hardware, by model-admin's verdict."""

    def __init__(self, hardware: Callable[[], WorkerHardware | None], ask: AskModelAdmin):
        self._hardware = hardware
        self._ask = ask

    async def refusal(
        self, profile: ProfileSpec, checks: Sequence[HardwareCheck] = ()
    ) -> str | None:
        """The reason ``profile`` does not fit, or None (it fits, or nobody can tell)."""
        hardware = self._hardware()
        if hardware is None:
            return None
        report = verdict_for(checks, hardware)
        if report is None:
            report = await self._ask(profile, hardware)
        if report is None:
            log.warning("no compatibility verdict for %s here: not checked", profile.id)
            return None
        return None if report.fits else report.reason
