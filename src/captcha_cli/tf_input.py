"""The training batches as a tf.data pipeline, prefetched so the model never waits for data."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from captcha_cli.batches import batch_stream
from captcha_cli.freshdata import FreshCaptchas


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
