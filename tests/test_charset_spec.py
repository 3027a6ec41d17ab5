"""Charset parsing and the model spec."""

from __future__ import annotations

import pytest

from captcha_cli.charset import Codec, charset_from_labels, compact_charset, parse_charset
from captcha_cli.errors import CharsetError, ModelFileError, SpecError
from captcha_cli.spec import ModelSpec, load_spec, save_spec, spec_for_arch, spec_path_for


def test_parse_charset_ranges() -> None:
    assert parse_charset("0-9") == "0123456789"
    assert parse_charset("0-9A-C_") == "0123456789ABC_"
    assert len(parse_charset("0-9a-zA-Z")) == 62
    assert parse_charset("-a") == "-a"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "charset is empty. Received: charset=''"),
        ("9-0", "charset range 9-0 runs backwards. Received: charset='9-0'"),
        ("a b", "charset may not contain the padding space. Received: charset='a b'"),
        ("0-9a5", "charset repeats '5'. Received: charset='0-9a5'"),
    ],
)
def test_parse_charset_errors(text: str, message: str) -> None:
    with pytest.raises(CharsetError) as info:
        parse_charset(text)
    assert info.value.message == message


def test_compact_and_infer_charset() -> None:
    assert compact_charset("0123456789abcxyz") == "0-9a-cx-z"
    assert charset_from_labels(["bA1", "a0"]) == "01abA"


def test_codec_round_trip_and_padding() -> None:
    codec = Codec("0123456789abc", 6)
    ids = codec.encode("a1")
    assert ids == [11, 2, 0, 0, 0, 0]
    assert codec.decode(ids) == "a1"
    assert codec.num_classes == 14
    assert codec.problem("abcd123") == "label longer than 6 characters"
    assert codec.problem("x") == "characters outside the charset: 'x'"
    assert codec.problem("") == "empty label"


def test_default_spec_is_the_report() -> None:
    spec = ModelSpec()
    assert spec.input_shape == (60, 200, 3)
    assert spec.num_classes == 63
    assert spec.output_size == 378
    assert spec.stage_blocks == (3, 4, 6, 3)
    assert spec.stage_filters == (64, 128, 256, 512)
    assert spec.stage_strides == (1, 2, 2, 2)
    assert (spec.lstm_units, spec.fc_units, spec.dropout) == (256, 2048, 0.5)
    assert spec.feature_map_size() == (2, 7)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_length": 0}, "max_length must be a positive integer. Received: max_length=0"),
        ({"dropout": 1.5}, "dropout must be in [0, 1). Received: dropout=1.5"),
        ({"stage_blocks": (3, 4)}, "stage_blocks, stage_filters and stage_strides must have the same"),
        ({"channels": 2}, "channels must be 1 or 3. Received: channels=2"),
        ({"height": 8}, "images must be at least 16x16. Received: height=8, width=200"),
        ({"preprocessing": "magic"}, "Received: preprocessing='magic'"),
    ],
)
def test_invalid_specs_echo_the_value(overrides: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        ModelSpec(**overrides)
    assert message in info.value.message


def test_unknown_arch() -> None:
    with pytest.raises(SpecError, match="Received: arch='resnet50'"):
        spec_for_arch("resnet50")


def test_spec_json_round_trip(tmp_path, tiny_spec) -> None:
    model_path = tmp_path / "best.keras"
    written = save_spec(tiny_spec, model_path)
    assert written == spec_path_for(model_path) == tmp_path / "best.spec.json"
    assert load_spec(model_path) == tiny_spec


def test_missing_and_broken_spec(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="model spec not found"):
        load_spec(tmp_path / "x.keras")
    (tmp_path / "x.spec.json").write_text('{"max_length": -1}')
    with pytest.raises(ModelFileError, match="max_length=-1"):
        load_spec(tmp_path / "x.keras")


def test_train_config_for_applies_the_preset_recipe_under_given_options() -> None:
    from captcha_cli.spec import PRESET_TRAINING, TrainConfig, train_config_for

    assert train_config_for("resnet34") == TrainConfig()  # the report's defaults
    small = train_config_for("small", batch_size=32, augment=None)
    assert small.batch_size == 32
    for field, value in PRESET_TRAINING["small"].items():
        assert getattr(small, field) == value
    assert train_config_for("small", augment=False, synthetic_mix=0.0).augment is False
    assert train_config_for("small", synthetic_mix=0.0).synthetic_mix == 0.0
