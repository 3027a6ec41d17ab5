"""The recipe rules of `captcha train`, resolved without TensorFlow or the CLI."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from captcha_cli.cli.train import TRAIN_OPTIONS, train
from captcha_cli.spec import GENERATED_DATA_MIX, PRESET_TRAINING, TrainConfig
from captcha_cli.training.request import TrainOptions, build_request


def test_every_train_option_reaches_the_request() -> None:
    """A parameter of the command missing from TrainOptions would be dropped silently."""
    parameters = set(inspect.signature(train).parameters) - {"ctx", "quiet", "json_output"}
    assert parameters == TRAIN_OPTIONS - {"command"}


def test_the_report_defaults_then_the_preset_then_what_is_given() -> None:
    report = build_request(TrainOptions(data=Path("d")))
    assert report.arch == "resnet34" and report.config == TrainConfig()
    small = build_request(TrainOptions(data=Path("d"), arch="small"))
    for key, value in PRESET_TRAINING["small"].items():
        assert getattr(small.config, key) == value, key
    given = build_request(TrainOptions(data=Path("d"), arch="small", augment=False, ema=0.0, time_budget="10m"))
    assert (given.config.augment, given.config.ema, given.config.anneal) == (False, 0.0, 0.25)
    assert given.config.time_budget_s == 600 and given.arch_given and not given.max_steps_given


def test_generated_captchas_fill_half_the_batch_only_without_data() -> None:
    assert build_request(TrainOptions()).config.synthetic_mix == GENERATED_DATA_MIX
    assert build_request(TrainOptions(data=Path("d"))).config.synthetic_mix == 0.0
    assert build_request(TrainOptions(resume=Path("runs/exp"))).config.synthetic_mix == 0.0
    assert build_request(TrainOptions(synthetic_mix=0.2)).config.synthetic_mix == 0.2


def test_an_init_model_brings_its_presets_recipe_unless_arch_is_given() -> None:
    asked: list[Path] = []

    def saved_arch(path: Path) -> str:
        asked.append(path)
        return "small"

    request = build_request(TrainOptions(data=Path("d"), init=Path("runs/exp")), saved_arch)
    assert request.arch == "small" and request.config.ema == PRESET_TRAINING["small"]["ema"] and not request.arch_given
    assert asked == [Path("runs/exp")]
    assert build_request(TrainOptions(init=Path("m.keras"), arch="resnet18"), saved_arch).arch == "resnet18"
    assert asked == [Path("runs/exp")]  # --arch given: the model is not opened


def test_spec_fields_and_data_options_pass_through() -> None:
    options = TrainOptions(
        data=Path("d"),
        height=40,
        width=128,
        loss="ctc",
        dropout=0.0,
        backend="none",
        unlabelled=Path("u"),
        unlabelled_share=0.25,
        max_steps=10,
        command=("captcha", "train", "d"),
    )
    request = build_request(options)
    fixed = {"height": 40, "width": 128, "loss": "ctc", "dropout": 0.0, "preprocessing": "none"}
    assert request.spec_overrides == fixed
    assert request.data.unlabelled == Path("u") and request.config.unlabelled_share == 0.25
    assert request.config.max_steps == 10 and request.max_steps_given
    assert request.command == ["captcha", "train", "d"]


@pytest.mark.parametrize("text", ["10 minutes", "-5m"])
def test_a_bad_time_is_refused(text: str) -> None:
    from captcha_cli.errors import CaptchaError

    with pytest.raises(CaptchaError):
        build_request(TrainOptions(time_budget=text))


def test_building_a_request_does_not_load_tensorflow() -> None:
    code = (
        "import sys; from pathlib import Path; from captcha_cli.training.request import TrainOptions, build_request; "
        "build_request(TrainOptions(data=Path('d'), arch='small', time_budget='5m')); "
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
