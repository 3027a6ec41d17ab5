"""`--precision auto` picks the fastest safe precision for the machine it runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from captcha_cli.errors import SpecError
from captcha_cli.precision import cpu_supports_bf16, resolve_precision


@pytest.mark.parametrize(
    ("has_gpu", "cpu_bf16", "capability", "expected"),
    [
        (False, False, None, "float32"),
        (False, True, None, "bfloat16"),
        (True, False, (9, 0), "bfloat16"),  # Hopper
        (True, False, (8, 0), "bfloat16"),  # Ampere
        (True, True, (7, 5), "float16"),  # Turing: no bfloat16 tensor cores, whatever the CPU has
        (True, False, None, "float16"),  # a GPU that reports no compute capability
    ],
)
def test_auto_follows_the_hardware(
    has_gpu: bool, cpu_bf16: bool, capability: tuple[int, int] | None, expected: str
) -> None:
    assert resolve_precision("auto", has_gpu, cpu_bf16, capability) == expected


def test_an_explicit_precision_is_kept_and_an_unknown_one_refused() -> None:
    assert resolve_precision("float32", True, True, (9, 0)) == "float32"
    assert resolve_precision("float16", False, True) == "float16"
    with pytest.raises(SpecError, match="precision='half'"):
        resolve_precision("half", False, False)


def test_cpu_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    with_amx = tmp_path / "amx"
    with_amx.write_text("flags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("flags\t\t: fpu sse2 avx2\n")
    assert cpu_supports_bf16(with_amx)
    assert not cpu_supports_bf16(without)
    assert not cpu_supports_bf16(tmp_path / "missing")
