"""What every benchmark prints first: the machine it ran on (docs/benchmarks.md asks for it with each figure)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["machine"]


def machine() -> str:
    """CPU model, cores, memory, Python and the kernel, read from /proc where there is one."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        memory = f", {int(meminfo.read_text().split()[1]) / 1024 / 1024:.0f} GiB"
    return (
        f"{model}, {os.cpu_count()} cores{memory}, Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}"
    )
