"""`--synthetic-mix`: fresh generated captchas in every training batch, seeded and resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from captcha_cli.data.preprocessing import prepare_uint8
from captcha_cli.data.synthetic import sample
from captcha_cli.errors import CaptchaError
from captcha_cli.spec import ModelSpec
from captcha_cli.training.batches import batch_stream
from captcha_cli.training.freshdata import SERIES_SALT, FreshCaptchas, drawing_size, mixed_count
from tests.conftest import TINY, TINY_TRAIN
from tests.helpers import invoke

SPEC = ModelSpec(**TINY)


def test_fresh_batch_matches_the_generator_and_the_preprocessing() -> None:
    fresh = FreshCaptchas(SPEC, "simple", (3, 4), seed=5)
    images, ids = fresh.batch(step=2, count=3)
    assert images.shape == (3, 32, 64, 3) and images.dtype == np.uint8
    texts = [SPEC.codec.decode(row) for row in ids]
    assert all(len(t) in (3, 4) and set(t) <= set("0123456789") for t in texts)
    # the third sample of step 2 is index 2 * 3 + 2 of the salted series, drawn 60 high at the
    # input's aspect (64x32: 120x60), preprocessed like data
    text, image = sample("simple", 5 + SERIES_SALT, 8, SPEC.charset, (3, 4), 120, 60)
    assert texts[2] == text
    expected = prepare_uint8(np.asarray(image), 32, 64, 3, SPEC.preprocessing)
    np.testing.assert_array_equal(images[2], expected)


@pytest.mark.parametrize(
    ("width", "height", "drawn"),
    [(200, 60, (200, 60)), (72, 24, (180, 60)), (70, 30, (140, 60)), (360, 60, (360, 60)), (400, 100, (240, 60))],
)
def test_fresh_captchas_are_drawn_60_high_at_the_inputs_aspect(width, height, drawn) -> None:
    spec = ModelSpec(**{**TINY, "width": width, "height": height})
    assert drawing_size(spec) == drawn
    images, _ = FreshCaptchas(spec, "noisy", (4,), seed=0).batch(0, 1)
    assert images.shape == (1, height, width, 3)


def test_fresh_batches_are_new_every_step_and_repeat_by_seed() -> None:
    fresh = FreshCaptchas(SPEC, "noisy", (4,), seed=1)
    a, a_ids = fresh.batch(0, 4)
    b, _ = fresh.batch(1, 4)
    again, again_ids = FreshCaptchas(SPEC, "noisy", (4,), seed=1).batch(0, 4)
    other, _ = FreshCaptchas(SPEC, "noisy", (4,), seed=2).batch(0, 4)
    np.testing.assert_array_equal(a, again)
    np.testing.assert_array_equal(a_ids, again_ids)
    assert not np.array_equal(a, b) and not np.array_equal(a, other)


def test_bad_fresh_settings_are_refused() -> None:
    with pytest.raises(CaptchaError, match="unknown style"):
        FreshCaptchas(SPEC, "wavy", (4,), seed=0)
    with pytest.raises(CaptchaError, match=r"label lengths must be 1\.\.4"):
        FreshCaptchas(SPEC, "noisy", (4, 6), seed=0)


def test_mixed_count() -> None:
    assert [mixed_count(64, f) for f in (0.0, 0.25, 0.5, 1.0)] == [0, 16, 32, 64]
    assert mixed_count(8, 0.01) == 1  # any mix asked for puts at least one fresh image in


def test_stream_puts_fresh_samples_last_and_resumes_in_step() -> None:
    real = np.zeros((10, 32, 64, 3), dtype=np.uint8)
    real_ids = np.full((10, 4), 1, dtype=np.int32)
    fresh = FreshCaptchas(SPEC, "simple", (4,), seed=3)
    stream = batch_stream(real, real_ids, 8, seed=0, start_step=0, augment=False, fresh=fresh, fresh_count=3)
    batches = [next(stream) for _ in range(3)]
    for step, (x, y) in enumerate(batches):
        assert x.shape == (8, 32, 64, 3) and y.shape == (8, 4)
        assert not x[:5].any() and (y[:5] == 1).all()  # 5 from the data
        new_x, new_y = fresh.batch(step, 3)
        np.testing.assert_array_equal(x[5:], new_x)
        np.testing.assert_array_equal(y[5:], new_y)
    resumed = batch_stream(real, real_ids, 8, seed=0, start_step=2, augment=False, fresh=fresh, fresh_count=3)
    x, y = next(resumed)
    np.testing.assert_array_equal(x, batches[2][0])
    np.testing.assert_array_equal(y, batches[2][1])


def test_train_with_mix_records_it_and_shows_the_batch_makeup(runner, tmp_path, digits_dir) -> None:
    args = ("--max-steps", "2", "--val-every", "2", "--project", tmp_path)
    tiny = [a for a in TINY_TRAIN if a != "--quiet"]
    result = invoke(runner, "train", digits_dir, *tiny, *args, "--synthetic-mix", "0.5", "--synthetic-style", "simple")
    assert result.exit_code == 0, result.output
    assert "batches        4 from the data + 4 generated simple, not augmented" in result.stderr
    config = json.loads((tmp_path / "exp" / "config.json").read_text())
    assert config["config"]["synthetic_mix"] == 0.5 and config["data"]["synthetic_style"] == "simple"


@pytest.mark.slow
def test_without_data_it_generates_once_and_mixes_fresh_captchas(runner, tmp_path) -> None:
    """The first command's path (README): no DATA, so a generated set, with fresh captchas of its
    style in half of every batch unless --synthetic-mix says otherwise."""
    tiny = ["--arch", "tiny", "--height", "32", "--width", "64", "--batch-size", "8", "--precision", "float32"]
    args = ("--synthetic-count", "24", "--max-steps", "2", "--val-every", "2", "--project", tmp_path)
    result = invoke(runner, "train", *tiny, *args, "--name", "a")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "synthetic-noisy-24-seed0"
    assert f"No data given: generating 24 noisy captchas into {folder}" in result.stderr
    assert len(list(folder.glob("*.png"))) == 24 and (folder / ".complete").is_file()
    assert "batches        4 from the data + 4 generated noisy, not augmented" in result.stderr
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["config"]["synthetic_mix"] == 0.5 and config["data"]["data"] == str(folder)
    again = invoke(runner, "train", *tiny, *args, "--name", "b", "--synthetic-mix", "0")
    assert again.exit_code == 0, again.output
    assert "No data given" not in again.stderr  # the set is made once
    assert "batches        8 from the data, not augmented" in again.stderr
    assert json.loads((tmp_path / "b" / "config.json").read_text())["config"]["synthetic_mix"] == 0.0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--synthetic-mix", "1.5", "--synthetic-mix"),
        ("--synthetic-style", "wavy", "choose one of noisy, crowded, simple"),
    ],
)
def test_bad_mix_options_exit_2(runner, tmp_path, digits_dir, option, value, message) -> None:
    result = invoke(runner, "train", digits_dir, *TINY_TRAIN, option, value, "--project", tmp_path)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "exp").exists()
