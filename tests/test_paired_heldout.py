"""benchmarks/paired_heldout.py's exact McNemar test, against values worked out by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "paired_heldout.py"


def _mcnemar():
    spec = importlib.util.spec_from_file_location("paired_heldout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mcnemar_exact


@pytest.mark.parametrize(
    ("only_a", "only_b", "p"),
    [
        (0, 0, 1.0),  # no captcha read by one model alone: nothing tells them apart
        (0, 6, 2 / 64),  # six of six one way: 2 x (1/2)^6
        (1, 5, 2 * 7 / 64),  # 2 x (C(6,0) + C(6,1)) / 2^6
        (3, 3, 1.0),  # an even split; the doubled tail is capped at 1
        (5, 1, 2 * 7 / 64),  # symmetric in the two models
    ],
)
def test_mcnemar_exact(only_a: int, only_b: int, p: float) -> None:
    assert _mcnemar()(only_a, only_b) == pytest.approx(p)
