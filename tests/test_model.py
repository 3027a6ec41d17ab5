"""The one model module: shapes, parameter counts, names, save and reload."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from captcha_cli.errors import ModelFileError, SpecError
from captcha_cli.model.modelio import load_model, save_model
from captcha_cli.model.network import build_model, describe_model, residual_block, residual_stack
from captcha_cli.spec import ModelSpec, save_spec, spec_for_arch

# The report's test result (REPORT_EN.md section 1): total parameters of captcha_resnet34.
REPORT_TOTAL_PARAMS = 32_054_714


def test_default_model_matches_the_report(default_model) -> None:
    assert default_model.name == "captcha_resnet34"
    assert default_model.count_params() == REPORT_TOTAL_PARAMS
    assert default_model.input_shape == (None, 60, 200, 3)
    assert default_model.output_shape == (None, 378)
    out = default_model(np.zeros((1, 60, 200, 3), "float32"), training=False)
    assert out.shape == (1, 378)


def test_layer_names_are_hierarchical(default_model) -> None:
    names = {layer.name for layer in default_model.layers}
    for name in (
        "conv1_conv",
        "pool1_pool",
        "conv2_block1_0_conv",
        "conv2_block3_out",
        "conv3_block4_add",
        "conv4_block6_2_bn",
        "conv5_block1_0_bn",
        "bilstm",
        "fc",
        "dropout_fc",
        "output",
    ):
        assert name in names
    assert "conv2_block2_0_conv" not in names  # identity shortcut


def test_parts_add_up(default_model) -> None:
    parts = describe_model(default_model)
    assert [p.name for p in parts] == [
        "stem",
        "conv2_x",
        "conv3_x",
        "conv4_x",
        "conv5_x",
        "sequence head",
        "fc",
        "output",
    ]
    assert sum(p.params for p in parts) == REPORT_TOTAL_PARAMS
    assert parts[-1].params == 2048 * 378 + 378
    assert parts[5].params == 2 * 4 * 256 * (1024 + 256 + 1)


def test_blocks_build_without_names() -> None:
    inputs = keras.Input((16, 16, 4))
    x = residual_block(inputs, 4)
    x = residual_block(x, 4)
    x = residual_stack(x, 8, 3, stride=2)
    assert tuple(x.shape) == (None, 8, 8, 8)


@pytest.mark.parametrize(
    ("overrides", "output"),
    [
        ({"charset": "0123456789", "max_length": 4}, 44),
        ({"max_length": 5}, 315),
        ({"height": 40, "width": 120}, 378),
    ],
)
def test_spec_changes_change_the_model(overrides: dict, output: int) -> None:
    spec = spec_for_arch("small", loss="softmax", **overrides)
    model = build_model(spec)
    assert model.output_shape == (None, output)
    assert model.input_shape == (None, spec.height, spec.width, 3)


def test_small_preset_reads_with_ctc_over_13_time_steps() -> None:
    spec = spec_for_arch("small", charset="0123456789", max_length=4)
    assert spec.loss == "ctc" and spec.output_steps == 13
    model = build_model(spec)
    assert model.output_shape == (None, 13 * 11)
    assert model.get_layer("classes").output.shape == (None, 13, 11)


def test_sequence_upsampling_repeats_each_column_for_more_time_steps() -> None:
    spec = spec_for_arch("small", charset="0123456789", max_length=6, sequence_upsampling=2)
    assert spec.feature_map_size() == (4, 13) and spec.output_steps == 26
    model = build_model(spec)
    assert model.get_layer("classes").output.shape == (None, 26, 11)
    assert model.get_layer("bilstm").input.shape[1] == 26
    old = spec.to_dict()
    del old["sequence_upsampling"]  # a spec saved before the field existed
    assert ModelSpec.from_dict(old).output_steps == 13
    with pytest.raises(SpecError, match="sequence_upsampling must be a positive integer"):
        replace(spec, sequence_upsampling=0)


def test_small_preset_head_reads_the_bilstm_and_the_cnn_columns() -> None:
    spec = spec_for_arch("small", charset="0123456789", max_length=4)
    model = build_model(spec)
    joined = model.get_layer("bilstm_shortcut")
    assert joined.output.shape == (None, 13, 2 * spec.lstm_units + 4 * spec.stage_filters[-1])
    assert model.get_layer("fc").input is joined.output
    without = build_model(replace(spec, sequence_shortcut=False))
    assert "bilstm_shortcut" not in {layer.name for layer in without.layers}
    fc_inputs = joined.output.shape[-1] - 2 * spec.lstm_units  # the fc's extra input weights
    assert model.count_params() - without.count_params() == fc_inputs * spec.fc_units


def test_specs_saved_before_the_shortcut_load_without_it(tiny_spec) -> None:
    data = tiny_spec.to_dict()
    del data["sequence_shortcut"]
    assert ModelSpec.from_dict(data).sequence_shortcut is False
    with pytest.raises(SpecError, match="sequence_shortcut must be true or false. Received: sequence_shortcut='yes'"):
        ModelSpec.from_dict({**data, "sequence_shortcut": "yes"})


def test_widths_and_units_change_params() -> None:
    small = build_model(spec_for_arch("small")).count_params()
    wider = build_model(spec_for_arch("small", lstm_units=64, fc_units=256)).count_params()
    assert wider < small
    assert len([layer for layer in build_model(spec_for_arch("resnet18")).layers if layer.name.endswith("_out")]) == 8


def test_save_and_reload_give_same_outputs(tmp_path, tiny_spec) -> None:
    model = build_model(tiny_spec)
    batch = np.random.default_rng(0).random((2, 32, 64, 3), dtype=np.float32)
    path = save_model(model, tiny_spec, tmp_path / "best.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "best.spec.json"]
    loaded, spec, resolved = load_model(tmp_path)
    assert resolved == path
    assert spec == tiny_spec
    np.testing.assert_allclose(model(batch, training=False), loaded(batch, training=False), rtol=1e-6, atol=1e-6)


def test_model_file_errors(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="no best.keras or last.keras"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "nope.keras")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    save_spec(ModelSpec(), broken)
    with pytest.raises(ModelFileError, match="broken.keras: not a .keras model \\(zip\\) archive"):
        load_model(broken)
    import zipfile

    with zipfile.ZipFile(broken, "w") as archive:  # a zip, but not one Keras wrote
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ModelFileError, match="broken.keras: cannot load model"):
        load_model(broken)


@pytest.mark.slow
def test_full_model_save_reload(tmp_path, default_model) -> None:
    batch = np.random.default_rng(0).random((1, 60, 200, 3), dtype=np.float32)
    save_model(default_model, ModelSpec(), tmp_path / "best.keras")
    loaded, spec, _ = load_model(tmp_path)
    assert spec == ModelSpec()
    np.testing.assert_allclose(
        default_model(batch, training=False), loaded(batch, training=False), rtol=1e-5, atol=1e-5
    )


def test_a_model_saved_before_the_layout_by_layer_loads_and_reads_the_same() -> None:
    """A `tiny` model saved by 0.3.0, whose layers name the module `captcha_cli.model` (now
    `captcha_cli.model.kernels`): it loads, and gives the outputs it gave when it was saved."""
    model, spec, _ = load_model(Path(__file__).parent / "data" / "model-0.3.0" / "last.keras")
    assert model.name == "captcha_tiny" and spec.charset == "0123456789" and spec.max_length == 4
    x = np.linspace(0, 1, 32 * 64 * 3, dtype=np.float32).reshape(1, 32, 64, 3)
    y = np.asarray(model.predict(x, verbose=0))
    assert y.shape == (1, 44)
    np.testing.assert_allclose(y[0, :4], [0.0021692, 0.00220289, 0.00344235, -0.00287871], atol=1e-6)
    assert float(y.sum()) == pytest.approx(0.008719968609511852, abs=1e-5)
