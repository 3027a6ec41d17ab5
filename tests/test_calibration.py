"""Confidence a caller can act on: the fitted map, ECE, the reliability diagram, and the map's
place in the saved spec."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from captcha_cli.errors import SpecError
from captcha_cli.model.calibration import apply_calibration, expected_calibration_error, fit_calibration, reliability
from captcha_cli.spec import ModelSpec, spec_for_arch
from tests.helpers import invoke, invoke_json


def test_fit_recovers_the_map_that_made_the_outcomes() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.001, 1.0, 40_000)
    right = rng.uniform(size=raw.size) < 1 / (1 + np.exp(-(2.0 * np.log(raw) + 3.0)))
    slope, intercept = fit_calibration(raw, right)
    assert slope == pytest.approx(2.0, abs=0.1) and intercept == pytest.approx(3.0, abs=0.15)
    calibrated = apply_calibration(raw, (slope, intercept))
    assert expected_calibration_error(calibrated, right) < 0.01 < expected_calibration_error(raw, right)


def test_a_split_read_perfectly_gives_finite_odds_below_certainty() -> None:
    raw = np.array([0.9, 0.92, 0.95, 0.97, 0.99])
    slope, intercept = fit_calibration(raw, np.ones(5, dtype=bool))
    calibrated = apply_calibration(raw, (slope, intercept))
    assert np.all(np.isfinite(calibrated)) and np.all(calibrated < 1.0) and calibrated[-1] >= 0.75


def test_a_split_read_perfectly_keeps_the_order() -> None:
    """With no wrong answer to learn from, the map is not flat: an answer less confident than any
    the split held (a captcha of another kind) gets a low confidence, the split's own a high one."""
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.75, 1.0, 1_600)
    slope, intercept = fit_calibration(raw, np.ones(raw.size, dtype=bool))
    assert slope > 0
    typical, unseen = apply_calibration(np.array([np.median(raw), 0.3]), (slope, intercept))
    assert typical > 0.99 and unseen < 0.5
    every_equal = fit_calibration(np.full(4, 0.8), np.ones(4, dtype=bool))
    assert every_equal[0] == 0.0 and apply_calibration(np.array([0.8]), every_equal)[0] == pytest.approx(5 / 6)


def test_the_map_never_reverses_the_order() -> None:
    raw = np.array([0.1, 0.2, 0.8, 0.9])
    slope, _ = fit_calibration(raw, np.array([True, True, False, False]))
    assert slope == 0.0


def test_without_a_map_the_confidence_is_the_raw_one() -> None:
    raw = np.array([0.0, 0.3, 1.0])
    assert apply_calibration(raw, ()).tolist() == raw.tolist()


def test_ece_by_hand() -> None:
    confidence = np.array([0.95, 0.95, 0.35, 0.35])  # two bins: right 1 of 2 at 0.95, 1 of 2 at 0.35
    right = np.array([True, False, True, False])
    assert expected_calibration_error(confidence, right) == pytest.approx(0.5 * 0.45 + 0.5 * 0.15)
    bins = reliability(confidence, right)
    assert len(bins) == 15 and sum(b["answers"] for b in bins) == 4
    assert bins[14]["accuracy"] == 0.5 and bins[5]["confidence"] == pytest.approx(0.35)


def test_spec_keeps_the_map_and_older_specs_have_none() -> None:
    spec = spec_for_arch("small", calibration=(1.5, 2.0))
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).calibration == (1.5, 2.0)
    older = spec.to_dict()
    del older["calibration"]
    assert ModelSpec.from_dict(older).calibration == ()
    with pytest.raises(SpecError, match="Received: calibration=\\[-1.0, 0.0\\]"):
        spec_for_arch("small", calibration=(-1.0, 0.0))


def test_training_stores_the_map_and_evaluate_measures_it(runner, trained_run, digits_dir, tmp_path) -> None:
    run = trained_run[0]
    for name in ("best", "last"):
        saved = json.loads((run / f"{name}.spec.json").read_text())
        assert len(saved["calibration"]) == 2 and saved["calibration"][0] >= 0
    diagram = tmp_path / "out" / "reliability.png"
    result = invoke_json(runner, "evaluate", digits_dir, "--model", run, "--calibration", diagram, "--quiet")
    assert result["calibrated"] is True
    assert 0.0 <= result["calibration"]["ece"] <= 1.0 and len(result["calibration"]["bins"]) == 15
    assert result["calibration"]["diagram"] == str(diagram)
    assert Image.open(diagram).size == (456, 496)
    text = invoke(runner, "evaluate", digits_dir, "--model", run, "--quiet").stdout
    assert f"calibration error (ECE)  {result['calibration']['ece']:.3f}" in text


def test_fit_from_tiny_raw_confidences() -> None:
    """Long CTC paths under the confidence penalty give raw confidences as low as 1e-80 for answers
    that are mostly right; the map must still order them (fits that gave up, or cut the log off at
    -80, returned slope 0: one confidence for every answer)."""
    rng = np.random.default_rng(1)
    raw = np.exp(rng.uniform(-200.0, -60.0, 5_000))
    right = rng.uniform(size=raw.size) < 1 / (1 + np.exp(-(0.05 * np.log(raw) + 6.5)))
    slope, intercept = fit_calibration(raw, right)
    assert slope == pytest.approx(0.05, abs=0.01) and intercept == pytest.approx(6.5, abs=1.3)


def test_calibrate_refits_a_model_saved_without_a_map(runner, trained_run, digits_dir, tmp_path) -> None:
    import shutil

    run = tmp_path / "old"
    shutil.copytree(trained_run[0], run, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    stored = json.loads((run / "best.spec.json").read_text())
    del stored["calibration"]  # as a model saved before calibration existed
    (run / "best.spec.json").write_text(json.dumps(stored))
    assert invoke_json(runner, "evaluate", digits_dir, "--model", run, "--quiet")["calibrated"] is False
    results = invoke_json(runner, "calibrate", run)
    assert [r["model"] for r in results] == [str(run / "best.keras"), str(run / "last.keras")]
    assert [r["images"] for r in results] == [13, 13] and all(
        len(r["calibration"]) == 2 for r in results
    )  # the run's validation split: 13 of its 64
    refitted = json.loads((run / "best.spec.json").read_text())
    assert refitted["calibration"] == results[0]["calibration"]
    assert {k: v for k, v in refitted.items() if k != "calibration"} == stored
    on_folder = invoke_json(runner, "calibrate", run / "best.keras", "--data", digits_dir)
    assert on_folder[0]["images"] == 64
