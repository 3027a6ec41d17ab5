"""The training input stream: a seeded, resumable order over a uint8 image array, optional
augmentation, fed to tf.data with prefetching so the model never waits for data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from captcha_cli.freshdata import FreshCaptchas


def sample_order(n: int, seed: int, start: int) -> Iterator[int]:
    """Indices of an endless series of seeded permutations, from position `start`."""
    epoch, offset = divmod(start, n)
    while True:
        permutation = np.random.default_rng([seed, epoch]).permutation(n)
        yield from permutation[offset:].tolist()
        epoch, offset = epoch + 1, 0


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


AUGMENTATION = Augmentation()


def augment_batch(images: np.ndarray, rng: np.random.Generator, ranges: Augmentation | None = None) -> np.ndarray:
    """Small random shifts, rotations and scalings, brightness/contrast jitter and pixel noise,
    drawn from `ranges` (the module's AUGMENTATION when omitted)."""
    r = ranges or AUGMENTATION
    out = np.empty_like(images)
    h, w = images.shape[1:3]
    for i, image in enumerate(images):
        angle = rng.uniform(-r.rotation_deg, r.rotation_deg)
        scale = rng.uniform(1 - r.scale, 1 + r.scale)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[:, 2] += (rng.uniform(-r.shift_x, r.shift_x) * w, rng.uniform(-r.shift_y, r.shift_y) * h)
        warped = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[i] = warped.reshape(image.shape)
    contrast = rng.uniform(1 - r.contrast, 1 + r.contrast, (len(images), 1, 1, 1))
    brightness = rng.uniform(-r.brightness, r.brightness, (len(images), 1, 1, 1))
    noise = rng.normal(0, r.noise_std, images.shape)
    mixed = (out.astype(np.float32) - 128) * contrast + 128 + brightness + noise
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)  # rounded: truncation darkened by half a level


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
        index = np.fromiter((next(order) for _ in range(real_count)), dtype=np.int64, count=real_count)
        sorted_index = np.sort(index)  # memory-mapped arrays read fastest in order
        x = np.asarray(images[sorted_index])
        y = ids[sorted_index]
        if fresh and fresh_count:
            new_x, new_y = fresh.batch(step, fresh_count)
            x, y = np.concatenate([x, new_x]), np.concatenate([y, new_y])
        if augment:
            x = augment_batch(x, np.random.default_rng([seed, 7919, step]))
        step += 1
        yield x, y


def training_dataset(
    images: np.ndarray,
    ids: np.ndarray,
    batch_size: int,
    seed: int,
    start_step: int,
    augment: bool,
    fresh: FreshCaptchas | None = None,
    fresh_count: int = 0,
) -> tf.data.Dataset:
    """tf.data over `batch_stream`: cast to float32 in [0, 1] and prefetch in the background."""
    h, w, c = images.shape[1:]
    signature = (
        tf.TensorSpec((batch_size, h, w, c), tf.uint8),
        tf.TensorSpec((batch_size, ids.shape[1]), tf.int32),
    )
    dataset = tf.data.Dataset.from_generator(
        lambda: batch_stream(images, ids, batch_size, seed, start_step, augment, fresh, fresh_count),
        output_signature=signature,
    )
    return dataset.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).prefetch(4)
