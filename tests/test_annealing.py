"""`--anneal`: a half-cosine learning-rate fall over the end of the budget."""

from __future__ import annotations

import json

import pytest

from captcha_cli.training.annealing import FLOOR, BudgetAnneal, budget_progress
from captcha_cli.training.runs import MetricsLog
from tests.conftest import TINY_TRAIN
from tests.helpers import invoke


def test_factor_runs_from_one_to_the_floor() -> None:
    anneal = BudgetAnneal(0.25)
    assert not anneal.active(0.74) and anneal.active(0.75)
    assert anneal.factor(0.75) == pytest.approx(1.0)
    assert anneal.factor(0.875) == pytest.approx(FLOOR + (1 - FLOOR) * 0.5)
    assert anneal.factor(1.0) == pytest.approx(FLOOR)


def test_rate_keeps_the_rate_it_started_from() -> None:
    anneal = BudgetAnneal(0.5)
    assert anneal.rate(0.4, current_lr=0.002) is None and anneal.start_lr is None
    assert anneal.rate(0.5, current_lr=0.002) == pytest.approx(0.002)
    # later calls ignore the (already lowered) current rate and follow the curve from 0.002
    assert anneal.rate(1.0, current_lr=0.0015) == pytest.approx(0.002 * FLOOR)


def test_off_and_bad_fractions() -> None:
    assert not BudgetAnneal(0.0).active(1.0)
    with pytest.raises(ValueError, match=r"anneal fraction must be in \[0, 1\]"):
        BudgetAnneal(1.5)


def test_budget_progress_takes_the_larger_of_steps_and_time() -> None:
    assert budget_progress(50, 100, elapsed_s=10, time_budget_s=None) == 0.5
    assert budget_progress(10, 100, elapsed_s=30, time_budget_s=60) == 0.5
    assert budget_progress(90, 100, elapsed_s=30, time_budget_s=60) == 0.9
    assert budget_progress(10, 100, elapsed_s=90, time_budget_s=60) == 1.0


@pytest.mark.slow
def test_train_anneals_and_resume_keeps_the_curve(runner, tmp_path, digits_dir) -> None:
    tiny = [a for a in TINY_TRAIN if a != "--quiet"]
    args = ("--val-every", "2", "--save-every", "2", "--anneal", "0.5", "--project", tmp_path)
    result = invoke(runner, "train", digits_dir, *tiny, "--max-steps", "8", *args)
    assert result.exit_code == 0, result.output
    assert "Learning rate annealing" in result.stderr
    assert "0.001000 -> 0.000010 along a half cosine, from step 4" in result.stderr
    rates = [row["lr"] for row in MetricsLog(tmp_path / "exp" / "metrics.csv").rows]
    assert rates[:2] == pytest.approx([0.001, 0.001])
    assert rates[2] < 0.001 and rates[3] < rates[2]
    state = json.loads(next((tmp_path / "exp" / "checkpoints").glob("step-00000008/state.json")).read_text())
    assert state["anneal_start_lr"] == pytest.approx(0.001)
    # a resumed run with a longer budget goes on from the saved start rate, not from the lowered one
    result = invoke(runner, "train", "--resume", tmp_path / "exp", "--max-steps", "12", *args[:-2], "--json")
    assert result.exit_code == 0, result.output
    final = MetricsLog(tmp_path / "exp" / "metrics.csv").rows[-1]
    assert final["step"] == 12 and final["lr"] == pytest.approx(0.001 * BudgetAnneal(0.5).factor(11 / 12))
