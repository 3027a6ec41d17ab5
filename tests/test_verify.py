"""`captcha verify` passes on the real code and fails on each kind of broken model."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from captcha_cli.checks.model_checks import architecture_checks
from captcha_cli.model import network as model_module
from captcha_cli.model.modelio import save_model
from captcha_cli.model.network import build_model
from captcha_cli.spec import ModelSpec
from tests.helpers import invoke, invoke_json


@pytest.fixture(scope="module")
def verify_json(request):
    from typer.testing import CliRunner

    return invoke_json(CliRunner(), "verify")


def test_verify_passes_on_the_real_code(verify_json) -> None:
    assert verify_json["failed"] == 0
    assert verify_json["passed"] == len(verify_json["checks"]) >= 19
    by_name = {c["name"]: c for c in verify_json["checks"]}
    assert by_name["parameter count"]["found"] == "32,054,714"
    assert by_name["size as float32"]["found"] == "122.28 MB"
    assert by_name["forward pass shapes"]["found"] == "(1, 60, 200, 3) -> (1, 378)"
    assert "evaluates to 35" in by_name["depth, the report's formula"]["claim"]
    assert by_name["depth, standard ResNet counting"]["found"].startswith("1 + 32 + 1 = 34")
    assert set(by_name["exactly one Dropout"]) == {"name", "claim", "found", "passed"}


def test_verify_human_output_ends_with_counts(runner) -> None:
    result = invoke(runner, "verify")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith(" passed, 0 failed")


def failed_names(model: keras.Model, spec: ModelSpec) -> set[str]:
    return {c.name for c in architecture_checks(model, spec) if not c.passed}


def _block_with_conv_dropout(x, filters, stride=1, conv_shortcut=False, name=None, kernels=None):
    shortcut = x
    if conv_shortcut:
        shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_0_bn")(shortcut)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Dropout(0.25, name=f"{name}_1_dropout")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _block_without_shortcut_bn(x, filters, stride=1, conv_shortcut=False, name=None, kernels=None):
    shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_0_conv")(x) if conv_shortcut else x
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def test_tiny_model_passes_its_own_spec(tiny_spec) -> None:
    assert failed_names(build_model(tiny_spec), tiny_spec) == set()


def test_dropout_in_a_conv_stage_fails(monkeypatch, tiny_spec) -> None:
    monkeypatch.setattr(model_module, "residual_block", _block_with_conv_dropout)
    failed = failed_names(build_model(tiny_spec), tiny_spec)
    assert {"no Dropout in the convolutional part", "exactly one Dropout", "residual block order"} <= failed
    assert "parameter count" not in failed  # Dropout has no weights


def test_missing_shortcut_bn_fails(monkeypatch, tiny_spec) -> None:
    monkeypatch.setattr(model_module, "residual_block", _block_without_shortcut_bn)
    failed = failed_names(build_model(tiny_spec), tiny_spec)
    assert "shortcut kinds" in failed
    assert "residual block order" not in failed


def test_wrong_stage_depth_width_and_lstm_fail(tiny_spec) -> None:
    from dataclasses import replace

    assert "blocks per stage" in failed_names(build_model(replace(tiny_spec, stage_blocks=(2, 5, 1, 1))), tiny_spec)
    assert "filters per stage" in failed_names(
        build_model(replace(tiny_spec, stage_filters=(8, 16, 16, 16))), tiny_spec
    )
    assert "BiLSTM" in failed_names(build_model(replace(tiny_spec, lstm_units=4)), tiny_spec)
    assert "fully connected head" in failed_names(build_model(replace(tiny_spec, dropout=0.3)), tiny_spec)
    shortcut = replace(tiny_spec, sequence_shortcut=True)
    assert "sequence into the head" in failed_names(build_model(shortcut), tiny_spec)
    assert "sequence into the head" in failed_names(build_model(tiny_spec), shortcut)
    assert "sequence into the head" not in failed_names(build_model(shortcut), shortcut)


@pytest.mark.slow
def test_report_lstm_128_fails_against_the_report() -> None:
    failed = failed_names(build_model(ModelSpec(lstm_units=128)), ModelSpec())
    assert {"BiLSTM", "parameter count", "size as float32"} <= failed


def test_verify_saved_model(runner, tmp_path, tiny_spec) -> None:
    save_model(build_model(tiny_spec), tiny_spec, tmp_path / "good.keras")
    data = invoke_json(runner, "verify", "--model", tmp_path / "good.keras")
    assert data["failed"] == 0
    assert "built from its spec" in {c["name"]: c for c in data["checks"]}["parameter count"]["claim"]


def test_verify_broken_saved_model_exits_1(runner, monkeypatch, tmp_path, tiny_spec) -> None:
    monkeypatch.setattr(model_module, "residual_block", _block_with_conv_dropout)
    broken = build_model(tiny_spec)
    monkeypatch.undo()
    save_model(broken, tiny_spec, tmp_path / "broken.keras")
    result = invoke(runner, "verify", "--model", tmp_path / "broken.keras")
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1].endswith("failed")
    assert "0 failed" not in result.stdout.strip().splitlines()[-1]
    data = invoke_json(runner, "verify", "--model", tmp_path / "broken.keras", exit_code=1)
    assert data["failed"] >= 2
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["no Dropout in the convolutional part"]["passed"] is False
    assert "conv2_block1_1_dropout" in by_name["no Dropout in the convolutional part"]["found"]


def test_verify_missing_model_file(runner, tmp_path) -> None:
    result = invoke(runner, "verify", "--model", tmp_path / "nope.keras")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {tmp_path / 'nope.keras'}: no such model file"


def test_training_checks_fail_on_wrong_defaults(monkeypatch) -> None:
    from captcha_cli.checks import training_checks as module
    from captcha_cli.spec import TrainConfig

    monkeypatch.setattr(module, "TrainConfig", lambda: TrainConfig(lr_patience=3, batch_size=32))
    failed = {c.name for c in module.training_checks() if not c.passed}
    assert {
        "adaptive LR settings",
        "halves the LR on a plateau",
        "waits for patience",
        "training default: batch size",
    } <= failed
    assert "training default: initial learning rate" not in failed


def test_preprocessing_checks_fail_on_a_changed_step(monkeypatch) -> None:
    from dataclasses import replace

    from captcha_cli.checks.preprocessing_checks import preprocessing_checks
    from captcha_cli.data import preprocessing

    monkeypatch.setattr(preprocessing, "OPENCV", replace(preprocessing.OPENCV, clahe_clip=2.0))
    monkeypatch.setattr(preprocessing.opencv_steps, "__defaults__", (preprocessing.OPENCV,))
    failed = {c.name for c in preprocessing_checks() if not c.passed}
    assert "opencv: clahe" in failed
    assert "opencv: gray" not in failed
