"""`--augment`'s batch augmentation: its ranges are the ones used, it is seeded, it keeps shape and dtype."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from captcha_cli.training.batches import Augmentation, augment_batch, gaussian_noise

NO_CHANGE = Augmentation(rotation_deg=0, scale=0, shift_x=0, shift_y=0, contrast=0, brightness=0, noise_std=0)


def _images(channels: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    images = np.full((4, 24, 40, channels), 200, dtype=np.uint8)
    images[:, 8:16, 10:30] = rng.integers(0, 80, (4, 8, 20, channels))  # dark "glyphs"
    return images


@pytest.mark.parametrize("channels", [1, 3])
def test_zero_ranges_leave_the_images_as_they_were(channels: int) -> None:
    images = _images(channels)
    out = augment_batch(images, np.random.default_rng(0), NO_CHANGE)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("channels", [1, 3])
def test_default_ranges_change_pixels_within_bounds_and_keep_shape(channels: int) -> None:
    images = _images(channels)
    out = augment_batch(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8
    difference = np.abs(out.astype(int) - images.astype(int)).mean(axis=(1, 2, 3))
    assert np.all(difference > 1)  # every image was changed
    assert np.all(difference < 60)  # and still looks like itself


def test_same_seed_same_batch_other_seed_other_batch() -> None:
    images = _images(3)
    first = augment_batch(images, np.random.default_rng([0, 7919, 5]))
    again = augment_batch(images, np.random.default_rng([0, 7919, 5]))
    other = augment_batch(images, np.random.default_rng([0, 7919, 6]))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_only_the_noise_range_adds_noise_of_that_size() -> None:
    images = np.full((8, 30, 30, 1), 128, dtype=np.uint8)
    noisy_only = Augmentation(rotation_deg=0, scale=0, shift_x=0, shift_y=0, contrast=0, brightness=0, noise_std=8)
    out = augment_batch(images, np.random.default_rng(1), noisy_only).astype(float)
    assert out.mean() == pytest.approx(128, abs=0.5)
    assert out.std() == pytest.approx(8, rel=0.1)


def test_noise_is_standard_normal_and_differs_between_images() -> None:
    noise = gaussian_noise((16, 30, 40, 3), np.random.default_rng(4))
    assert noise.dtype == np.float32 and noise.shape == (16, 30, 40, 3)
    assert noise.mean() == pytest.approx(0, abs=0.02)
    assert noise.std() == pytest.approx(1, abs=0.02)
    flat = noise.reshape(16, -1)
    correlations = np.corrcoef(flat)[np.triu_indices(16, 1)]
    assert np.abs(correlations).max() < 0.1  # no two images got the same noise
    neighbours = np.corrcoef(noise[:, :, :-1].ravel(), noise[:, :, 1:].ravel())[0, 1]
    assert abs(neighbours) < 0.02  # pixel by pixel independent, the roll adds no structure


def test_lines_draw_thin_coloured_strokes_and_nothing_else() -> None:
    images = np.full((16, 30, 60, 3), 128, dtype=np.uint8)
    only_lines = dataclasses.replace(NO_CHANGE, lines=3)
    out = augment_batch(images, np.random.default_rng(2), only_lines)
    changed = np.any(out != images, axis=3).sum(axis=(1, 2))
    assert np.count_nonzero(changed) >= 8  # most images got at least one line
    assert changed.max() <= 3 * 3 * (60 + 30)  # three strokes about a pixel wide (anti-aliasing adds a side each)
    assert np.any(out[..., 0] != out[..., 1])  # in colour, not grey


def test_colour_gains_move_each_channel_apart_and_leave_grey_images_alone() -> None:
    colour_only = dataclasses.replace(NO_CHANGE, colour=0.3)
    rgb = np.full((8, 20, 20, 3), 220, dtype=np.uint8)  # gains act about mid-grey, as the contrast does
    out = augment_batch(rgb, np.random.default_rng(5), colour_only).astype(float)
    spread = out.mean(axis=(1, 2)).std(axis=1)
    assert np.all(spread > 0.5) and out.min() >= 128 + 92 * 0.7 - 1 and out.max() <= 128 + 92 * 1.3 + 1
    grey = np.full((8, 20, 20, 1), 220, dtype=np.uint8)
    np.testing.assert_array_equal(augment_batch(grey, np.random.default_rng(5), colour_only), grey)


@pytest.mark.parametrize("channels", [1, 3])
def test_dots_change_single_pixels_only(channels: int) -> None:
    images = np.full((8, 30, 60, channels), 128, dtype=np.uint8)
    only_dots = dataclasses.replace(NO_CHANGE, dots=20)
    out = augment_batch(images, np.random.default_rng(6), only_dots)
    changed = np.any(out != images, axis=3)
    assert 0 < changed.sum(axis=(1, 2)).max() <= 20  # at most the drawn number of pixels per image
    assert changed.sum() >= 8 * 20 / 4  # about half the range on average
    if channels == 3:
        assert np.any(out[..., 0] != out[..., 1])


def test_blur_softens_edges_for_its_share_of_images() -> None:
    images = np.zeros((40, 20, 20, 1), dtype=np.uint8)
    images[:, :, 10:] = 255  # one hard vertical edge
    out = augment_batch(images, np.random.default_rng(7), dataclasses.replace(NO_CHANGE, blur=0.5))
    blurred = np.any((out > 0) & (out < 255), axis=(1, 2, 3))
    assert 10 <= blurred.sum() <= 30  # about half of 40
    np.testing.assert_array_equal(out[~blurred], images[~blurred])  # the others untouched
    always = augment_batch(images, np.random.default_rng(7), dataclasses.replace(NO_CHANGE, blur=1.0))
    assert np.all(always[:, :, 9] > 0)
