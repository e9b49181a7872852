"""What computer a timing was measured on: the CPU model and core count, stored beside timings."""
from __future__ import annotations

import os
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else what ``platform`` says)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The CPU model and core count of this computer, stored with runs beside their timings."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


__all__ = ["cpu_model", "machine"]
