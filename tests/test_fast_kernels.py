"""SmallMapConv2D and FusedAdam: the same numbers as Keras's Conv2D and Adam, through fewer kernels."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from captcha_cli.model.kernels import SMALL_MAP_POSITIONS, SmallMapConv2D
from captcha_cli.model.optimizers import FusedAdam


@pytest.fixture(autouse=True)
def _no_gpu(monkeypatch):
    """These tests check the CPU path, which a machine with a GPU would not take."""
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [] if kind == "GPU" else real(kind))


def _conv_gradients(layer: keras.layers.Conv2D, x: tf.Tensor) -> list[np.ndarray]:
    x = tf.cast(x, layer.compute_dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.random.stateless_normal(y.shape, (7, 8)))
    dx, dkernel, dbias = tape.gradient(loss, [x, layer.kernel, layer.bias])
    return [tf.cast(t, tf.float32).numpy() for t in (y, dx, dkernel, dbias)]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [((2, 7), 3, 1, "same"), ((4, 13), 3, 2, "same"), ((4, 13), 1, 2, "valid"), ((5, 5), 3, 1, "valid")],
)
def test_small_map_conv_matches_keras(size: tuple[int, int], kernel: int, stride: int, padding: str) -> None:
    x = tf.random.stateless_normal((3, *size, 8), (1, 2))
    plain = keras.layers.Conv2D(12, kernel, strides=stride, padding=padding)
    small = SmallMapConv2D(12, kernel, strides=stride, padding=padding)
    plain.build(x.shape)
    small.build(x.shape)
    small.set_weights(plain.get_weights())
    assert small._matmul_gradient(x)  # every case here is a small map: the matmul gradient is taken
    for ours, theirs in zip(_conv_gradients(small, x), _conv_gradients(plain, x), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_small_map_conv_matches_keras_in_bfloat16() -> None:
    x = tf.random.stateless_normal((4, 2, 7, 16), (3, 4))
    plain = keras.layers.Conv2D(16, 3, padding="same", dtype="mixed_bfloat16")
    small = SmallMapConv2D(16, 3, padding="same", dtype="mixed_bfloat16")
    plain.build(x.shape)
    small.build(x.shape)
    small.set_weights(plain.get_weights())
    for ours, theirs in zip(_conv_gradients(small, x), _conv_gradients(plain, x), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=3e-2, atol=3e-2 * np.abs(theirs).max())


def test_large_maps_keep_the_ordinary_convolution() -> None:
    layer = SmallMapConv2D(4, 3, padding="same")
    side = int(SMALL_MAP_POSITIONS**0.5) + 1
    assert not layer._matmul_gradient(tf.zeros((1, side, side, 2)))
    assert layer._matmul_gradient(tf.zeros((1, 1, SMALL_MAP_POSITIONS, 2)))
    assert not SmallMapConv2D(4, 3, dilation_rate=2)._matmul_gradient(tf.zeros((1, 3, 3, 2)))


def test_a_gpu_keeps_the_ordinary_convolution(monkeypatch) -> None:
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert not SmallMapConv2D(4, 3, padding="same")._matmul_gradient(tf.zeros((1, 2, 7, 2)))


def _adam_run(optimizer: keras.optimizers.Optimizer, steps: int) -> list[np.ndarray]:
    variables = [
        keras.Variable(tf.random.stateless_normal((5, 3), (1, 1)), name="w"),
        keras.Variable(tf.random.stateless_normal((3,), (2, 2)), name="b"),
    ]
    optimizer.build(variables)

    @tf.function
    def step(seed):
        grads = [tf.random.stateless_normal(v.shape, seed + i) for i, v in enumerate(variables)]
        optimizer.apply(grads, variables)

    for s in range(steps):
        step(tf.constant([s, 0]))
    return [v.numpy() for v in (*variables, *optimizer.variables[2:])]


def test_fused_adam_matches_keras_adam() -> None:
    fused = _adam_run(FusedAdam(learning_rate=0.01), 5)
    plain = _adam_run(keras.optimizers.Adam(learning_rate=0.01), 5)
    assert len(fused) == len(plain) == 6  # two weights, then momentum and velocity of each
    for ours, theirs in zip(fused, plain, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    start = tf.random.stateless_normal((5, 3), (1, 1)).numpy()
    assert np.abs(fused[0] - start).max() > 0.01  # it moved the weights


def test_fused_adam_follows_a_changed_learning_rate() -> None:
    optimizer = FusedAdam(learning_rate=0.01)
    fast = _adam_run(optimizer, 1)[0]
    slow_optimizer = FusedAdam(learning_rate=0.01)
    slow_optimizer.learning_rate = 0.001  # what the adaptive-rate callback does
    slow = _adam_run(slow_optimizer, 1)[0]
    start = tf.random.stateless_normal((5, 3), (1, 1)).numpy()
    np.testing.assert_allclose(np.abs(fast - start), 10 * np.abs(slow - start), rtol=1e-3)


def test_fused_adam_runs_one_kernel_per_variable() -> None:
    variables = [keras.Variable(tf.ones((4, 4))), keras.Variable(tf.ones((4,)))]
    optimizer = FusedAdam()
    optimizer.build(variables)
    apply = tf.function(lambda grads: optimizer.apply(grads, variables))
    graph = apply.get_concrete_function([tf.TensorSpec(v.shape) for v in variables]).graph
    ops = [op.type for op in graph.get_operations()]
    assert ops.count("ResourceApplyAdam") == 2
    assert "Sqrt" not in ops  # none of Keras's elementwise update


def test_weight_decay_shrinks_kernels_only() -> None:
    from captcha_cli.spec import TrainConfig
    from captcha_cli.training.trainer import make_optimizer

    kernel, bias = keras.Variable(tf.ones((4, 4))), keras.Variable(tf.ones((4,)))
    optimizer = make_optimizer(TrainConfig(learning_rate=0.01, weight_decay=0.5), "float32", [kernel, bias])
    zero = [tf.zeros((4, 4)), tf.zeros((4,))]  # Adam moves nothing on a zero gradient: only the decay acts
    tf.function(lambda grads: optimizer.apply(grads, [kernel, bias]))(zero)
    np.testing.assert_allclose(kernel.numpy(), np.full((4, 4), 1 - 0.01 * 0.5), rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), np.ones(4))
    plain = make_optimizer(TrainConfig(learning_rate=0.01), "float32", [kernel, bias])
    tf.function(lambda grads: plain.apply(grads, [kernel, bias]))(zero)
    np.testing.assert_allclose(kernel.numpy(), np.full((4, 4), 1 - 0.01 * 0.5), rtol=1e-6)  # no decay by default
