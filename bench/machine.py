"""What machine a figure was taken on: CPU, cores, memory, kernel, etcd, Python, load at start."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from ccp_acd.embedded.processes import etcd_binary


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


def _etcd_version() -> str:
    try:
        out = subprocess.run([etcd_binary(), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    first = out.splitlines()[0] if out else ""
    return first.split(":", 1)[1].strip() if ":" in first else first


def _filesystem(path: Path) -> str:
    """The file system type holding ``path`` (etcd's fsync cost depends on it: tmpfs makes it free)."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and str(path).startswith(fields[1]) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return kind


def describe(data_dir: Path | None = None) -> dict:
    """The machine, as JSON-able facts; ``data_dir``: where etcd keeps its data (its file system is noted)."""
    load1, load5, load15 = os.getloadavg()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_mb": _mem_total_mb(),
        "kernel": platform.release(),
        "etcd": _etcd_version(),
        "python": sys.version.split()[0],
        "load_at_start": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "etcd_data_fs": _filesystem((data_dir or Path("/tmp")).resolve()),
    }
