"""Which machine and commit a benchmark ran on, for the line RESULTS.md quotes with each figure."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import date
from pathlib import Path

MATRIX_FLAGS = ("amx_bf16", "avx512_bf16")  # what `--precision auto` reads on a CPU


def cpu_name() -> str:
    """`Intel(R) Xeon(R) Processor x 2 (amx_bf16, avx512_bf16)`: model, core count, bfloat16 units."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(errors="ignore") if cpuinfo.exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = [flag for flag in MATRIX_FLAGS if flag in text]
    units = ", ".join(flags) if flags else "no bfloat16 units"
    return f"{model or platform.processor() or platform.machine()} x {os.cpu_count()} ({units})"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def stamp() -> dict[str, str]:
    """The machine, today's date and the commit, as the raw results files record them."""
    return {"machine": cpu_name(), "date": str(date.today()), "commit": commit()}
