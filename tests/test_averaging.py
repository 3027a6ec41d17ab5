"""The --ema weight average: its warm-up, its decay, and swapping it in and back out."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from captcha_cli.training.averaging import WeightAverage


def _model() -> keras.Model:
    inputs = keras.Input((3,))
    x = keras.layers.Dense(2)(inputs)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.Dropout(0.5, seed=1)(x))


def test_average_warms_up_follows_its_decay_and_swaps_back() -> None:
    model = _model()
    average = WeightAverage(model, 0.5)
    # kernel, bias, BatchNorm's gamma, beta, moving mean and variance; not the Dropout's integer seed state
    assert len(average.weights) == 6 and all("float" in str(w.dtype) for w in average.weights)
    start = [w.numpy() for w in average.weights]
    for weight in average.weights:
        weight.assign(weight.numpy() + 1.0)
    average.update(tf.constant(0))  # the first update keeps min(0.5, 1/10) of the old average
    for got, old in zip(average.values(), start, strict=True):
        np.testing.assert_allclose(got, 0.1 * old + 0.9 * (old + 1.0), rtol=1e-6)
    before = average.values()
    for weight in average.weights:
        weight.assign(weight.numpy() + 1.0)
    average.update(tf.constant(100))  # later updates keep `decay` of it: min(0.5, 101/110)
    for got, old, value in zip(average.values(), before, start, strict=True):
        np.testing.assert_allclose(got, 0.5 * old + 0.5 * (value + 2.0), rtol=1e-6)
    live = [w.numpy() for w in average.weights]
    with average.applied():
        for weight, value in zip(average.weights, average.values(), strict=True):
            np.testing.assert_array_equal(weight.numpy(), value)
    for weight, value in zip(average.weights, live, strict=True):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_average_restores_saved_values_of_the_same_model_only() -> None:
    average = WeightAverage(_model(), 0.9)
    saved = [np.full(v.shape, 3.0, np.float32) for v in average.values()]
    average.restore(saved)
    assert all(np.all(v == 3.0) for v in average.values())
    with pytest.raises(ValueError, match="5 saved averages for 6 weights"):
        average.restore(saved[:5])
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(_model(), 1.0)
