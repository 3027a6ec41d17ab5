"""`captcha train --init MODEL`: a new run that starts from a saved model's weights."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from captcha_cli.data.synthetic import generate_folder
from captcha_cli.model.modelio import load_model
from tests.conftest import TINY_TRAIN
from tests.helpers import invoke


def kernels(path) -> dict[str, np.ndarray]:
    """The convolution and dense kernels of a saved model, by layer name."""
    model, _, _ = load_model(path)
    return {
        layer.name: keras.ops.convert_to_numpy(layer.kernel)
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    }


def one_step(runner, digits_dir, project, *extra: str):
    """One training step at a learning rate too small to move the weights."""
    return invoke(
        runner, "train", digits_dir, *extra, "--max-steps", "1", "--lr", "1e-9", "--val-every", "1",
        "--precision", "float32", "--batch-size", "8", "--project", project, "--quiet", "--json",
    )  # fmt: skip


@pytest.mark.slow
def test_init_starts_from_the_models_weights_and_spec(runner, trained_run, digits_dir, tmp_path) -> None:
    run, _ = trained_run
    result = one_step(runner, digits_dir, tmp_path, "--init", run, "--name", "tuned")
    assert result.exit_code == 0, result.output
    before, after = kernels(run / "best.keras"), kernels(tmp_path / "tuned" / "last.keras")
    assert before.keys() == after.keys() and len(before) > 5
    for name, kernel in before.items():
        np.testing.assert_allclose(after[name], kernel, atol=1e-6, err_msg=name)
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    trained = json.loads((run / "config.json").read_text())
    assert config["init"] == str(run / "best.keras")
    assert config["spec"] == trained["spec"]  # no --arch, --height, ...: the model's spec, tiny at 32x64
    assert json.loads(result.stdout)["last"]["full_string_acc"] >= 0.0

    fresh = one_step(runner, digits_dir, tmp_path, "--name", "fresh", *TINY_TRAIN)
    assert fresh.exit_code == 0, fresh.output
    started = kernels(tmp_path / "fresh" / "last.keras")
    assert any(np.abs(started[name] - kernel).max() > 1e-3 for name, kernel in before.items())


def test_init_refuses_another_model_or_a_resume(runner, trained_run, digits_dir, tmp_path) -> None:
    run, _ = trained_run
    model = run / "best.keras"
    refusal = f"cannot start from {model} with"
    cases = [
        (["--arch", "resnet18"], f"{refusal} --arch resnet18: its model was built with --arch tiny"),
        (["--height", "40"], f"{refusal} --height 40: its model was built with --height 32"),
        (["--backend", "none"], f"{refusal} --backend none: its model was built with --backend opencv"),
        (["--dropout", "0.1"], f"{refusal} --dropout 0.1: its model was built with --dropout 0.5"),
        (["--resume", run], "--init starts a new run from a model; --resume continues a run: pass one"),
    ]
    for extra, message in cases:
        result = invoke(runner, "train", digits_dir, "--init", model, *extra, "--project", tmp_path, "--quiet")
        assert result.exit_code == 1, result.output
        assert f"Error: {message}" in result.stderr
        assert "Traceback" not in result.output
    result = invoke(runner, "train", digits_dir, "--init", tmp_path / "missing.keras", "--project", tmp_path)
    assert result.exit_code == 1 and f"{tmp_path / 'missing.keras'}: no such model file" in result.stderr
    assert not any(tmp_path.iterdir())  # refused before any run folder was made


def test_init_refuses_labels_outside_the_models_charset(runner, trained_run, tmp_path) -> None:
    run, _ = trained_run
    letters = tmp_path / "letters"
    generate_folder(letters, 8, "simple", "ab", (4,), 200, 60, seed=3)
    result = invoke(runner, "train", letters, "--init", run, "--project", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1, result.output
    assert "characters outside" in result.stderr  # the audit's table: the model reads digits only
    assert "--init or" in result.stderr  # its advice: --charset cannot widen a given model's
    assert f"Error: {letters}: 8 invalid files; nothing was trained" in result.stderr


def test_init_refuses_a_cache_of_another_preprocessing(runner, trained_run, digits_dir, tmp_path) -> None:
    run, _ = trained_run
    cache = tmp_path / "cache"
    made = invoke(runner, "preprocess", digits_dir, "--cache", cache, "--backend", "none", "--quiet")
    assert made.exit_code == 0, made.output
    result = invoke(runner, "train", cache, "--init", run, "--project", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"Error: {cache}: cache images were preprocessed with --backend none, the model with --backend opencv"
    )
    assert not (tmp_path / "runs").exists()
