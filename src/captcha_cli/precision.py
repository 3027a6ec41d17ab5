"""Numeric precision: pick and apply a Keras mixed-precision policy."""

from __future__ import annotations

from pathlib import Path

from captcha_cli.errors import SpecError

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has native bfloat16 matrix units (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = cpuinfo.read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, has_gpu: bool, cpu_bf16: bool) -> str:
    """`auto`: float16 (with loss scaling) on a GPU, bfloat16 on a CPU with bf16 units, else float32."""
    if name not in PRECISIONS:
        raise SpecError(f"unknown precision; choose one of {', '.join(PRECISIONS)}. Received: precision={name!r}")
    if name != "auto":
        return name
    if has_gpu:
        return "float16"
    return "bfloat16" if cpu_bf16 else "float32"


def apply_precision(precision: str) -> None:
    """Set Keras's global dtype policy for models built from now on."""
    import keras

    keras.mixed_precision.set_dtype_policy(POLICIES[precision])


def detect_precision(name: str) -> str:
    """Resolve `name` against this machine's hardware."""
    import tensorflow as tf

    return resolve_precision(name, bool(tf.config.list_physical_devices("GPU")), cpu_supports_bf16())
