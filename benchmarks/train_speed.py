"""Training speed, side by side in one run: the original system's way (images decoded into one
NumPy array, `model.fit`, float32) against `captcha train`'s loop in each precision, and each
row's FLOP rate as a fraction of this machine's matrix-multiply peak in the same precision
(a large square matmul through TensorFlow, measured in the same run).

Usage: python benchmarks/train_speed.py [--arch resnet34] [--batch-size 32] [--steps 12] [--warmup 3]
       [--repeats 1] [--xla]
(`--xla` adds rows with the same step compiled by XLA, `tf.function(jit_compile=True)`.)
Prints a table and one JSON line; images/s are medians over the timed steps (and over the repeats,
which run every row in turn). The baseline builds the model with Keras's Conv2D and trains with
Keras's Adam; `captcha train` uses the model's own kernels and the fused Adam update. Training FLOPs per
image are counted as 3 x 2 x the model's multiply-accumulates (forward, and a backward pass of
twice the forward's work), the usual convention.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import time

import numpy as np
from generated import captchas

from captcha_cli import runtime

runtime.set_debug(False)
runtime.import_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from captcha_cli.losses import make_loss  # noqa: E402
from captcha_cli.model import FAST_KERNELS, Kernels, build_model, layer_macs  # noqa: E402
from captcha_cli.precision import POLICIES  # noqa: E402
from captcha_cli.spec import TrainConfig, spec_for_arch  # noqa: E402
from captcha_cli.training import make_optimizer  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.times.append(time.perf_counter() - self._start)


# The original trained with tf.keras 2, whose BatchNormalization ran the fused kernel on 4D inputs;
# its convolutions and Adam are Keras's own.
ORIGINAL_KERNELS = Kernels(conv=keras.layers.Conv2D)


def baseline(spec, images, ids, batch: int, steps: int, warmup: int) -> list[float]:
    """The original: sigmoid outputs, binary cross-entropy, model.fit on a NumPy array, float32."""
    keras.mixed_precision.set_dtype_policy("float32")
    model = build_model(spec, ORIGINAL_KERNELS)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    targets = np.eye(spec.num_classes, dtype=np.float32)[ids].reshape(len(ids), -1)
    x = images.astype(np.float32) / 255.0
    timer = StepTimer()
    model.fit(x, targets, batch_size=batch, epochs=1, steps_per_epoch=steps + warmup, verbose=0, callbacks=[timer])
    return timer.times[warmup:]


def ours(
    spec,
    images,
    ids,
    batch: int,
    steps: int,
    warmup: int,
    precision: str,
    xla: bool = False,
    kernels: Kernels = FAST_KERNELS,
    fused_adam: bool = True,
) -> list[float]:
    """`captcha train`'s step: tf.data from a uint8 array, custom tf.function step, chosen precision,
    the model's own kernels and the fused Adam update; with `xla`, the step is compiled by XLA.
    `kernels` and `fused_adam` swap in Keras's own layers or Adam, for comparisons."""
    from captcha_cli.batches import batch_stream
    from captcha_cli.tf_input import training_dataset

    keras.mixed_precision.set_dtype_policy(POLICIES[precision])
    model = build_model(spec, kernels)
    keras.mixed_precision.set_dtype_policy("float32")
    if fused_adam:
        optimizer = make_optimizer(TrainConfig(learning_rate=1e-3), precision, model.trainable_variables)
    else:
        optimizer = keras.optimizers.Adam(1e-3)
        if precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    loss_fn = make_loss(spec)

    @tf.function(autograph=False, jit_compile=xla)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            scaled = optimizer.scale_loss(loss)
        optimizer.apply(tape.gradient(scaled, model.trainable_variables), model.trainable_variables)
        return loss

    stream = functools.partial(batch_stream, images, ids, batch, 0, 0, False)
    batches = iter(training_dataset(stream, (batch, *images.shape[1:]), (batch, ids.shape[1])))
    times = []
    for _ in range(steps + warmup):
        x, y = next(batches)
        start = time.perf_counter()
        float(step(x, y))
        times.append(time.perf_counter() - start)
    return times[warmup:]


def matmul_peak(precision: str, size: int = 4096, repeats: int = 7) -> float:
    """Median FLOP/s of a size x size x size matmul in `precision` through TensorFlow."""
    dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[precision]
    a = tf.random.normal((size, size), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    float(matmul(a, b))  # warm-up: kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(matmul(a, b))
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def training_flops_per_image(spec) -> int:
    keras.mixed_precision.set_dtype_policy("float32")
    model = build_model(spec)
    return 6 * sum(layer_macs(layer) for layer in model.layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--loss", default="softmax", help="our loop's loss (the baseline is always the original's)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats of every row (median taken)")
    parser.add_argument("--xla", action="store_true", help="also time our step compiled by XLA (jit_compile=True)")
    args = parser.parse_args()
    from captcha_cli.charset import DEFAULT_CHARSET

    spec = spec_for_arch(args.arch, charset=DEFAULT_CHARSET, max_length=6, loss="softmax")
    texts, images = captchas(256)
    ids = np.array([spec.codec.encode(t) for t in texts], dtype=np.int32)
    ours_spec = spec_for_arch(args.arch, charset=DEFAULT_CHARSET, max_length=6, loss=args.loss)
    runs = {"baseline fit float32": lambda: baseline(spec, images, ids, args.batch_size, args.steps, args.warmup)}
    for precision in args.precisions.split(","):
        for xla in (False, True) if args.xla else (False,):
            name = f"captcha train {args.loss}{' xla' if xla else ''} {precision}"
            runs[name] = functools.partial(
                ours, ours_spec, images, ids, args.batch_size, args.steps, args.warmup, precision, xla
            )
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, so a busy spell on the shared machine hits every row
        for name, run in runs.items():
            rates[name].append(args.batch_size / statistics.median(run()))
    rows = {name: statistics.median(values) for name, values in rates.items()}
    base = rows["baseline fit float32"]
    flops = training_flops_per_image(ours_spec)
    peaks = {p: matmul_peak(p) for p in ("float32", *args.precisions.split(","))}
    print(
        f"{args.arch}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up; "
        f"{platform.processor() or platform.machine()}, TF {tf.__version__}; "
        f"{flops / 1e9:.2f} training GFLOP per image"
    )
    for precision, peak in peaks.items():
        print(f"matmul peak {precision:9s} {peak / 1e9:8.1f} GFLOP/s (4096^3 through TensorFlow)")
    utilisation = {}
    for name, rate in rows.items():
        peak = peaks[name.rsplit(" ", 1)[1]]
        utilisation[name] = rate * flops / peak
        print(
            f"{name:28s} {rate:8.1f} images/s   {rate / base:5.2f}x baseline   "
            f"{rate * flops / 1e9:7.1f} GFLOP/s = {utilisation[name]:.1%} of the {name.rsplit(' ', 1)[1]} matmul peak"
        )
    print(
        json.dumps(
            {
                "arch": args.arch,
                "batch_size": args.batch_size,
                "images_per_s": rows,
                "images_per_s_each_repeat": rates,
                "training_flops_per_image": flops,
                "matmul_peak_flops": peaks,
                "fraction_of_peak": utilisation,
            }
        )
    )


if __name__ == "__main__":
    main()
