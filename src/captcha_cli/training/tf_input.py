"""The training batches as a tf.data pipeline, prefetched so the model never waits for data."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

Batches = Iterator[tuple[np.ndarray, np.ndarray]]


def training_dataset(
    batches: Callable[[], Batches], image_shape: tuple[int, ...], ids_shape: tuple[int, ...]
) -> tf.data.Dataset:
    """tf.data over the stream that `batches()` starts (uint8 images of `image_shape`, int32 label
    ids of `ids_shape`, both with the batch first): cast to float32 in [0, 1], prefetched in the
    background."""
    signature = (tf.TensorSpec(image_shape, tf.uint8), tf.TensorSpec(ids_shape, tf.int32))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return dataset.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).prefetch(4)
