"""FusedBatchNormalization: the same numbers as Keras's BatchNormalization, through one fused kernel."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from captcha_cli.model.kernels import FusedBatchNormalization
from captcha_cli.model.modelio import save_model
from captcha_cli.model.network import build_model


def _pair(dtype: str) -> tuple[keras.layers.BatchNormalization, FusedBatchNormalization, tf.Tensor]:
    x = tf.random.stateless_normal((6, 5, 7, 16), (1, 2)) * 3 + 1
    plain = keras.layers.BatchNormalization(epsilon=1e-3, dtype=dtype)
    fused = FusedBatchNormalization(epsilon=1e-3, dtype=dtype)
    for layer in (plain, fused):
        layer.build(x.shape)
        layer.gamma.assign(tf.random.stateless_normal((16,), (3, 4)) + 1)
        layer.beta.assign(tf.random.stateless_normal((16,), (5, 6)))
    return plain, fused, x


def _train_step(layer, x: tf.Tensor) -> tuple[np.ndarray, ...]:
    x = tf.cast(x, layer.compute_dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.random.stateless_normal(y.shape, (7, 8)))
    dx, dgamma, dbeta = tape.gradient(loss, [x, layer.gamma, layer.beta])
    as_float = [tf.cast(t, tf.float32).numpy() for t in (y, dx, dgamma, dbeta)]
    return (*as_float, layer.moving_mean.numpy(), layer.moving_variance.numpy())


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-4), ("mixed_bfloat16", 3e-2)])
def test_training_step_matches_keras(dtype: str, tolerance: float) -> None:
    plain, fused, x = _pair(dtype)
    y, dx, dgamma, dbeta, mean, variance = _train_step(plain, x)
    fy, fdx, fdgamma, fdbeta, fmean, fvariance = _train_step(fused, x)
    assert fy.dtype == y.dtype
    for ours, theirs in ((fy, y), (fdx, dx), (fdgamma, dgamma), (fdbeta, dbeta), (fmean, mean)):
        np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance * np.abs(theirs).max())
    n = 6 * 5 * 7  # values per channel: the fused kernel keeps the unbiased variance
    batch_variance = (variance - 0.99) / 0.01
    np.testing.assert_allclose(fvariance, 0.99 + 0.01 * batch_variance * n / (n - 1), rtol=tolerance)


def test_inference_uses_the_moving_statistics() -> None:
    plain, fused, x = _pair("float32")
    for layer in (plain, fused):
        layer.moving_mean.assign(tf.fill((16,), 0.5))
        layer.moving_variance.assign(tf.fill((16,), 4.0))
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), rtol=1e-6)
    assert fused.moving_mean.numpy()[0] == 0.5  # inference does not move them


@pytest.mark.slow
def test_a_saved_model_loads_in_a_fresh_process(tmp_path, tiny_spec) -> None:
    model = build_model(tiny_spec)
    assert any(isinstance(layer, FusedBatchNormalization) for layer in model.layers)
    save_model(model, tiny_spec, tmp_path / "best.keras")
    code = (
        "import sys; from pathlib import Path; from captcha_cli.model.modelio import load_model; "
        "m, _, _ = load_model(Path(sys.argv[1])); "
        "print(type(m.get_layer('conv1_bn')).__name__, type(m.get_layer('conv5_block1_1_conv')).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["FusedBatchNormalization", "SmallMapConv2D"]
