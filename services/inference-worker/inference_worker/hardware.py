"""What this worker can give an engine (``WorkerHardware``), and whether a profile fits it.

CPU: the memory of ONE NUMA node (vLLM's CPU backend budgets ``gpu_memory_utilization`` x
one node's memory), from ``/sys/devices/system/node/node0/meminfo``, else the machine's
total memory (``os.sysconf``), count 1. CUDA: ``torch.cuda`` device count and each
device's total memory; asked only when the device is cuda (``WORKER_DEVICE=cuda``, or
``auto`` with the vllm engine and a GPU torch can see).

The fit check is model-admin's own estimate (``model_admin.memory.check_compatibility``),
run again here against this worker's hardware before a swap unloads anything: the same
numbers, the same reason text. It is the one place the worker imports model-admin code
(the estimate is not wire format, so it does not belong in ``contracts``); a worker
deployed without that package skips the check with a warning.
"""

from __future__ import annotations

import logging
import os
import platform
import re
from pathlib import Path

import msgspec

from contracts.admin import ProfileSpec
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


def refusal(profile: ProfileSpec, hardware: WorkerHardware | None) -> str | None:
    """Why ``profile`` cannot load on ``hardware`` (model-admin's estimate), else None."""
    if hardware is None:
        return None
    try:
        from model_admin.memory import Hardware, check_compatibility
        from model_admin.profiles import Profile
    except ImportError:
        log.warning("model_admin not importable: compatibility not re-checked on the worker")
        return None
    try:
        checked = msgspec.convert(msgspec.to_builtins(profile), Profile)
    except (msgspec.ValidationError, ValueError) as exc:
        return f"profile {profile.id} is invalid: {exc}"
    report = check_compatibility(
        checked,
        Hardware(device=hardware.device, count=hardware.count, memory_gib=hardware.memory_gib),
    )
    return None if report.fits else report.reason
