"""`--ema DECAY`: an exponential moving average of the model's weights (Polyak averaging), which
validation scores and `best.keras`/`last.keras` hold in place of the weights of the last step."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import keras
import numpy as np
import tensorflow as tf

WARMUP = 10.0  # early steps average with decay (1 + n) / (WARMUP + n): the first weights fade fast


class WeightAverage:
    """Shadow copies of a model's floating-point weights (the trainable ones and BatchNorm's moving
    statistics), each moved toward the live weights by `1 - decay` after every training step.

    Create it inside the distribution strategy's scope, after the starting weights are loaded: the
    average starts as a copy of them. With `shadow` (a second model of the same architecture) the
    averages are that model's weights, so it can be called with them (`--unlabelled`'s teacher).
    """

    def __init__(self, model: keras.Model, decay: float, shadow: keras.Model | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must be in (0, 1). Received: decay={decay}")
        self.decay = decay
        self.weights = _float_weights(model)
        if shadow is None:
            self.averages = [
                tf.Variable(w.value, trainable=False, name=f"average_{i}") for i, w in enumerate(self.weights)
            ]
        else:
            self.averages = _float_weights(shadow)
            shapes = [tuple(w.shape) for w in self.weights]
            if [tuple(a.shape) for a in self.averages] != shapes:
                raise ValueError("the shadow model's weights do not match the model's")
            for weight, average in zip(self.weights, self.averages, strict=True):
                average.assign(weight.value)

    def update(self, updates: tf.Tensor) -> None:
        """Move the average toward the weights; `updates` counts the steps taken before this one."""
        n = tf.cast(updates, tf.float32)
        keep = tf.minimum(tf.constant(self.decay, tf.float32), (1.0 + n) / (WARMUP + n))
        for weight, average in zip(self.weights, self.averages, strict=True):
            average.assign_sub((1.0 - tf.cast(keep, average.dtype)) * (average - weight.value))

    def values(self) -> list[np.ndarray]:
        """The averages as arrays, in a fixed order (for checkpoints)."""
        return [np.asarray(a.numpy()) for a in self.averages]

    def restore(self, values: Sequence[np.ndarray]) -> None:
        """Set the averages from `values()` of an earlier run of the same model."""
        if len(values) != len(self.averages):
            raise ValueError(f"{len(values)} saved averages for {len(self.averages)} weights")
        for average, value in zip(self.averages, values, strict=True):
            average.assign(value)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; its own come back after."""
        live = [w.numpy() for w in self.weights]
        for weight, average in zip(self.weights, self.averages, strict=True):
            weight.assign(tf.convert_to_tensor(average))
        try:
            yield
        finally:
            for weight, value in zip(self.weights, live, strict=True):
                weight.assign(value)


def _float_weights(model: keras.Model) -> list:
    return [w for w in model.weights if "float" in str(w.dtype)]
