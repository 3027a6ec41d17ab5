"""Numeric precision: pick and apply a Keras mixed-precision policy."""

from __future__ import annotations

from pathlib import Path

from captcha_cli.errors import SpecError

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
BF16_GPU_CAPABILITY = (8, 0)  # Ampere: the first NVIDIA GPUs with bfloat16 tensor cores


def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has native bfloat16 matrix units (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = cpuinfo.read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, has_gpu: bool, cpu_bf16: bool, gpu_capability: tuple[int, int] | None = None) -> str:
    """`auto`: on a GPU bfloat16 from compute capability 8.0 (no loss scaling), else float16 with loss
    scaling; on a CPU bfloat16 where it has bf16 units, else float32."""
    if name not in PRECISIONS:
        raise SpecError(f"unknown precision; choose one of {', '.join(PRECISIONS)}. Received: precision={name!r}")
    if name != "auto":
        return name
    if has_gpu:
        return "bfloat16" if gpu_capability is not None and gpu_capability >= BF16_GPU_CAPABILITY else "float16"
    return "bfloat16" if cpu_bf16 else "float32"


def apply_precision(precision: str) -> None:
    """Set Keras's global dtype policy for models built from now on."""
    import keras

    keras.mixed_precision.set_dtype_policy(POLICIES[precision])


def detect_precision(name: str) -> str:
    """Resolve `name` against this machine's hardware."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") if gpus else None
    return resolve_precision(name, bool(gpus), cpu_supports_bf16(), capability)
