"""`captcha predict` and `captcha evaluate` on a trained tiny model."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from captcha_cli.data.datasets import Sample
from captcha_cli.inference.evaluation import edit_distance, score
from captcha_cli.inference.readers import Prediction
from captcha_cli.model.calibration import apply_calibration
from captcha_cli.spec import load_spec
from tests.helpers import invoke, invoke_json


@pytest.fixture(scope="module")
def model_path(trained_run):
    return trained_run[0] / "best.keras"


@pytest.fixture(scope="module")
def images(digits_dir):
    return sorted(digits_dir.glob("*.png"))[:6]


def test_single_image_prints_just_the_text(runner, model_path, images) -> None:
    result = invoke(runner, "predict", images[0], "--model", model_path)
    assert result.exit_code == 0, result.output
    text = result.stdout.strip()
    assert result.stdout == text + "\n"
    assert set(text) <= set("0123456789") and len(text) <= 4


def test_json_is_consistent_with_single(runner, model_path, images) -> None:
    single = invoke(runner, "predict", images[0], "--model", model_path).stdout.strip()
    rows = invoke_json(runner, "predict", *images[:3], "--model", model_path, "--probs")
    assert [r["path"] for r in rows] == [str(p) for p in images[:3]]
    assert rows[0]["text"] == single
    calibration = load_spec(model_path).calibration
    assert calibration  # fitted on the validation split when training ended
    for row in rows:
        assert len(row["probs"]) == 4
        raw = float(np.prod(row["probs"]))
        assert row["confidence"] == pytest.approx(float(apply_calibration(raw, calibration)), rel=1e-3)


def test_folder_and_glob(runner, model_path, digits_dir) -> None:
    folder = invoke_json(runner, "predict", digits_dir, "--model", model_path)
    assert len(folder) == 64
    pattern = str(digits_dir / "1*.png")
    globbed = invoke_json(runner, "predict", pattern, "--model", model_path)
    assert {r["path"] for r in globbed} == {str(p) for p in digits_dir.glob("1*.png")}
    result = invoke(runner, "predict", str(digits_dir / "zzz*.png"), "--model", model_path)
    assert result.exit_code == 1 and "no files match this pattern" in result.stderr


def test_csv_and_table(runner, model_path, images) -> None:
    out = invoke(runner, "predict", *images[:2], "--model", model_path, "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["path"] for r in rows] == [str(p) for p in images[:2]]
    assert {r["status"] for r in rows} <= {"ok", "rejected"}
    table = invoke(runner, "predict", *images[:2], "--model", model_path).stdout
    assert images[0].name[:20] in table and "confidence" in table


def test_table_prints_bracketed_names_as_written(runner, model_path, images, tmp_path) -> None:
    shot = tmp_path / "shot[b]1.png"  # `[b]` would be rich markup for bold
    shot.write_bytes(images[0].read_bytes())
    table = invoke(runner, "predict", shot, images[1], "--model", model_path).stdout
    assert "shot[b]1.png" in table


def test_min_confidence_marks_rejections(runner, model_path, images) -> None:
    rows = invoke_json(runner, "predict", *images, "--model", model_path, "--min-confidence", "1.0")
    assert all(r["rejected"] for r in rows)
    result = invoke(runner, "predict", *images, "--model", model_path, "--min-confidence", "1.0")
    assert "6 of 6 predictions rejected (confidence < 1)" in result.stderr
    rows = invoke_json(runner, "predict", *images, "--model", model_path, "--min-confidence", "0.0")
    assert not any(r["rejected"] for r in rows)


def test_corrupt_file_among_good_ones(runner, model_path, images, tmp_path) -> None:
    bad = tmp_path / "1234-bad.png"
    bad.write_bytes(b"\x89PNG broken")
    result = invoke(runner, "predict", images[0], bad, images[1], "--model", model_path, "--json")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [r["path"] for r in rows] == [str(images[0]), str(images[1])]
    assert f"Error: {bad}: not an image" in result.stderr


def test_default_model_is_newest_best(runner, trained_run, images, tmp_path, monkeypatch) -> None:
    project = tmp_path / "runs"
    for name in ("old", "new"):
        shutil.copytree(trained_run[0], project / name, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    os.utime(project / "old" / "best.keras", (1, 1))
    result = invoke(runner, "predict", images[0], "--project", project)
    assert result.exit_code == 0
    assert f"Using model {project / 'new' / 'best.keras'}" in result.stderr
    empty = invoke(runner, "predict", images[0], "--project", tmp_path / "none")
    assert empty.exit_code == 1 and f"no trained model found under {tmp_path / 'none'}/" in empty.stderr


def test_score_on_known_answers() -> None:
    samples = [
        Sample(path=__import__("pathlib").Path(f"{i}.png"), label=t)
        for i, t in enumerate(["1234", "5678", "123456", "9999"])
    ]
    preds = [
        Prediction("0.png", "1234", 0.99, []),
        Prediction("1.png", "5670", 0.6, []),
        Prediction("2.png", "123456", 0.95, []),
        Prediction("3.png", "999", 0.3, []),
    ]
    result = score(samples, preds)
    assert result["images"] == 4
    assert result["full_string_accuracy"] == 0.5
    assert result["char_accuracy"] == pytest.approx((4 + 3 + 6 + 3) / 18)
    assert result["cer"] == pytest.approx(2 / 18)
    assert result["by_length"] == {
        "4": {"images": 3, "full_string_accuracy": pytest.approx(1 / 3)},
        "6": {"images": 1, "full_string_accuracy": 1.0},
    }
    assert result["confusions"] == [{"truth": "8", "predicted": "0", "count": 1}]
    at = {c["threshold"]: c for c in result["by_confidence"]}
    assert at[0.9] == {"threshold": 0.9, "answered": 0.5, "accuracy": 1.0}
    assert at[0.5]["answered"] == 0.75 and at[0.5]["accuracy"] == pytest.approx(2 / 3)
    assert at[0.99]["answered"] == 0.25


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "abc") == 0


def test_evaluate_cli_and_error_grid(runner, model_path, digits_dir, tmp_path) -> None:
    data = invoke_json(runner, "evaluate", digits_dir, "--model", model_path, "--errors", tmp_path / "e.png")
    assert data["images"] == 64
    for key in ("full_string_accuracy", "char_accuracy", "cer", "by_length", "confusions"):
        assert key in data
    predicted = invoke_json(runner, "predict", digits_dir, "--model", model_path)
    truth = {str(p): p.name.split("-")[0] for p in digits_dir.glob("*.png")}
    expected = sum(r["text"] == truth[r["path"]] for r in predicted) / 64
    assert data["full_string_accuracy"] == pytest.approx(expected)
    grid = Image.open(tmp_path / "e.png")
    assert grid.format == "PNG" and data["error_grid"]["shown"] == min(24, len(data["errors"]))
    text = invoke(runner, "evaluate", digits_dir, "--model", model_path).stdout
    assert "full-string accuracy" in text and "Accuracy against confidence threshold" in text
