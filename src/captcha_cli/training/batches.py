"""The training input stream: a seeded, resumable order over a uint8 image array and optional
augmentation, in NumPy and OpenCV (tf_input.py feeds it to TensorFlow)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from captcha_cli.training.freshdata import FreshCaptchas


def sample_order(n: int, seed: int, start: int) -> Iterator[int]:
    """Indices of an endless series of seeded permutations, from position `start`."""
    epoch, offset = divmod(start, n)
    while True:
        permutation = np.random.default_rng([seed, epoch]).permutation(n)
        yield from permutation[offset:].tolist()
        epoch, offset = epoch + 1, 0


def next_indices(order: Iterator[int], count: int) -> np.ndarray:
    """The next `count` indices of `order`, sorted: memory-mapped arrays read fastest in order."""
    return np.sort(np.fromiter((next(order) for _ in range(count)), dtype=np.int64, count=count))


@dataclass(frozen=True)
class Augmentation:
    """The ranges `--augment` draws from, each symmetric around no change. At 30 minutes these
    beat the earlier, milder ranges (5 degrees, 0.07, 0.04, 0.08, noise 8) that the faster fused
    step overfitted with (benchmarks/RESULTS.md, benchmarks/levers.py)."""

    rotation_deg: float = 8.0
    scale: float = 0.12  # of the size
    shift_x: float = 0.06  # of the width
    shift_y: float = 0.10  # of the height
    contrast: float = 0.3
    brightness: float = 30.0  # grey levels
    noise_std: float = 12.0  # grey levels
    lines: int = 0  # up to this many straight lines of random colour drawn across each image
    colour: float = 0.0  # each channel's gain drawn from 1 +- this (colour images only)
    dots: int = 0  # up to this many single-pixel specks of random colour on each image
    blur: float = 0.0  # the share of images softened by a 3x3 Gaussian blur


AUGMENTATION = Augmentation()
NOISE_BANK_IMAGES = 64


@functools.cache
def noise_bank(height: int, width: int, channels: int) -> np.ndarray:
    """Standard normal noise for NOISE_BANK_IMAGES images of this shape, drawn once (seed 0)."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((NOISE_BANK_IMAGES, height, width, channels), dtype=np.float32)


def gaussian_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Standard normal pixel noise for a batch of `shape` (N, H, W, C), float32.

    Each image's noise is a bank image picked at random and rolled by a random offset along
    height and width: still independent normal values pixel by pixel, at a copy's cost instead of
    drawing 36,000 normal values per 200x60 image, which took most of `--augment`'s CPU time.
    """
    count, height, width, channels = shape
    bank = noise_bank(height, width, channels)
    picks = rng.integers(0, len(bank), count)
    rows, cols = rng.integers(0, height, count), rng.integers(0, width, count)
    return np.stack([np.roll(bank[k], (dy, dx), axis=(0, 1)) for k, dy, dx in zip(picks, rows, cols, strict=True)])


def augment_batch(images: np.ndarray, rng: np.random.Generator, ranges: Augmentation | None = None) -> np.ndarray:
    """Small random shifts, rotations and scalings, random lines and specks, a light blur,
    brightness/contrast/colour jitter and pixel noise, drawn from `ranges` (the module's AUGMENTATION when omitted)."""
    r = ranges or AUGMENTATION
    out = np.empty_like(images)
    h, w = images.shape[1:3]
    for i, image in enumerate(images):
        angle = rng.uniform(-r.rotation_deg, r.rotation_deg)
        scale = rng.uniform(1 - r.scale, 1 + r.scale)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[:, 2] += (rng.uniform(-r.shift_x, r.shift_x) * w, rng.uniform(-r.shift_y, r.shift_y) * h)
        warped = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if r.lines:
            draw_lines(warped, int(rng.integers(0, r.lines + 1)), rng)
        if r.dots:
            draw_dots(warped, int(rng.integers(0, r.dots + 1)), rng)
        if r.blur and rng.random() < r.blur:
            warped = cv2.GaussianBlur(warped, (3, 3), 0)
        out[i] = warped.reshape(image.shape)
    contrast = rng.uniform(1 - r.contrast, 1 + r.contrast, (len(images), 1, 1, 1)).astype(np.float32)
    if r.colour and images.shape[3] > 1:
        gains = rng.uniform(1 - r.colour, 1 + r.colour, (len(images), 1, 1, images.shape[3]))
        contrast = contrast * gains.astype(np.float32)
    brightness = rng.uniform(-r.brightness, r.brightness, (len(images), 1, 1, 1)).astype(np.float32)
    mixed = out.astype(np.float32)
    mixed -= 128
    mixed *= contrast
    mixed += 128 + brightness
    if r.noise_std:
        mixed += np.float32(r.noise_std) * gaussian_noise(images.shape, rng)
    np.rint(mixed, out=mixed)  # rounded: truncation darkened by half a level
    np.clip(mixed, 0, 255, out=mixed)
    return mixed.astype(np.uint8)


def draw_lines(image: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Draws `count` anti-aliased lines, 1 pixel thick, of random colour between two
    random points, in place: the kind of noise many real captchas draw over their text."""
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    for _ in range(count):
        ends = rng.integers(0, (w, h, w, h))
        colour = tuple(int(c) for c in rng.integers(0, 256, channels))
        cv2.line(image, (int(ends[0]), int(ends[1])), (int(ends[2]), int(ends[3])), colour, 1, cv2.LINE_AA)


def draw_dots(image: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Sets `count` random pixels to random colours, in place: the specks many captchas scatter."""
    h, w = image.shape[:2]
    rows, cols = rng.integers(0, h, count), rng.integers(0, w, count)
    image[rows, cols] = rng.integers(0, 256, (count, *image.shape[2:]), dtype=np.uint8)


def batch_stream(
    images: np.ndarray,
    ids: np.ndarray,
    batch_size: int,
    seed: int,
    start_step: int,
    augment: bool,
    fresh: FreshCaptchas | None = None,
    fresh_count: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches (uint8 images, label ids) in the seeded order, resuming at `start_step`; with
    `fresh`, the last `fresh_count` samples of every batch are newly generated captchas."""
    real_count = batch_size - fresh_count if fresh else batch_size
    order = sample_order(len(images), seed, start_step * real_count)
    step = start_step
    while True:
        sorted_index = next_indices(order, real_count)
        x = np.asarray(images[sorted_index])
        y = ids[sorted_index]
        if fresh and fresh_count:
            new_x, new_y = fresh.batch(step, fresh_count)
            x, y = np.concatenate([x, new_x]), np.concatenate([y, new_y])
        if augment:
            x = augment_batch(x, np.random.default_rng([seed, 7919, step]))
        step += 1
        yield x, y
