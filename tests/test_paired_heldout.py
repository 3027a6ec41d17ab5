"""benchmarks/paired_heldout.py's exact McNemar test, against values worked out by hand."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "paired_heldout.py"


def _module():
    spec = importlib.util.spec_from_file_location("paired_heldout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert _module().mcnemar_exact(only_a, only_b) == pytest.approx(p)


def test_scored_runs_pair_by_label(tmp_path: Path) -> None:
    """`--scores` pairs two runs from the misreads a raw results JSON keeps: a label the folder
    holds twice ("AA11") is misread once by A and twice by B, so one of its captchas only A reads."""
    raw = {
        "runs": {
            "a": {"images": 10, "errors": [["AA11", "AA1"], ["b2c3", "b2e3"]]},
            "b": {"images": 10, "errors": [["AA11", "A11"], ["AA11", "AAl1"], ["zz99", "z99"]]},
        }
    }
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps(raw))
    module = _module()
    images, misread_a = module.scored_run(f"{scores}:a")
    _, misread_b = module.scored_run(f"{scores}:b")
    counts = module.paired_counts(images, misread_a, misread_b)
    assert (counts["only_a"], counts["only_b"], counts["both_wrong"], counts["both_right"]) == (2, 1, 1, 6)
    assert counts["accuracy_a"] == pytest.approx(0.8) and counts["accuracy_b"] == pytest.approx(0.7)
    assert counts["mcnemar_p"] == pytest.approx(module.mcnemar_exact(2, 1))


def test_scored_run_names_what_is_missing(tmp_path: Path) -> None:
    module = _module()
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({"runs": {"a": {"images": 3}}}))
    with pytest.raises(argparse.ArgumentTypeError, match="no run 'a' with its misreads"):
        module.scored_run(f"{scores}:a")
    with pytest.raises(argparse.ArgumentTypeError, match="not a readable results JSON"):
        module.scored_run(f"{tmp_path / 'missing.json'}:a")
    with pytest.raises(argparse.ArgumentTypeError, match="FILE.json:RUN"):
        module.scored_run("scores.json")
