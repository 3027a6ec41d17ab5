"""The training batches as a tf.data pipeline, prefetched so the model never waits for data."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

Batches = Iterator[tuple[np.ndarray, ...]]


def training_dataset(
    batches: Callable[[], Batches],
    image_shape: tuple[int, ...],
    ids_shape: tuple[int, ...],
    unlabelled_shape: tuple[int, ...] | None = None,
) -> tf.data.Dataset:
    """tf.data over the stream that `batches()` starts (uint8 images of `image_shape`, int32 label
    ids of `ids_shape`, both with the batch first, and with `unlabelled_shape` the weak and strong
    views of the unlabelled images): images cast to float32 in [0, 1], prefetched in the background."""
    signature = (tf.TensorSpec(image_shape, tf.uint8), tf.TensorSpec(ids_shape, tf.int32))
    if unlabelled_shape is not None:
        signature += (tf.TensorSpec(unlabelled_shape, tf.uint8),) * 2
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)

    def to_float(*parts: tf.Tensor) -> tuple[tf.Tensor, ...]:
        return tuple(tf.cast(p, tf.float32) / 255.0 if p.dtype == tf.uint8 else p for p in parts)

    return dataset.map(to_float).prefetch(4)
