"""BatchNorm kernels side by side in one run: the model's FusedBatchNormalization (TensorFlow's
fused kernel) against Keras 3's own BatchNormalization (separate float32 reductions and
elementwise ops), the same model otherwise, `captcha train`'s step on random images.

Usage: python benchmarks/batchnorm_speed.py [--archs resnet34:32,small:64] [--steps 10] [--repeats 2]
Prints one line per arch, precision and kernel (images/s, median of the timed steps; each pair is
repeated and interleaved because the machine is shared) and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from captcha_cli import runtime

runtime.set_debug(False)
runtime.import_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from captcha_cli import model as model_module  # noqa: E402
from captcha_cli.charset import DEFAULT_CHARSET  # noqa: E402
from captcha_cli.losses import make_loss  # noqa: E402
from captcha_cli.precision import POLICIES  # noqa: E402
from captcha_cli.spec import spec_for_arch  # noqa: E402

KERNELS = {
    "fused": model_module._batch_norm,
    "keras": lambda name: keras.layers.BatchNormalization(epsilon=1.001e-5, name=name),
}


def images_per_s(arch: str, batch: int, precision: str, kernel: str, steps: int, warmup: int = 3) -> float:
    spec = spec_for_arch(arch, charset=DEFAULT_CHARSET, max_length=6, loss="ctc" if arch == "small" else "softmax")
    model_module._batch_norm = KERNELS[kernel]
    keras.mixed_precision.set_dtype_policy(POLICIES[precision])
    try:
        model = model_module.build_model(spec)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
        model_module._batch_norm = KERNELS["fused"]
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = make_loss(spec)

    @tf.function(autograph=False)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    x = tf.random.uniform((batch, spec.height, spec.width, spec.channels))
    y = tf.constant(np.array([spec.codec.encode("ab12") for _ in range(batch)], dtype=np.int32))
    times = []
    for _ in range(steps + warmup):
        start = time.perf_counter()
        float(step(x, y))
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[warmup:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default="resnet34:32,small:64", help="ARCH:BATCH pairs")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for item in args.archs.split(","):
        arch, batch = item.split(":")
        for precision in args.precisions.split(","):
            rates: dict[str, list[float]] = {"keras": [], "fused": []}
            for _ in range(args.repeats):
                for kernel in ("keras", "fused"):
                    rates[kernel].append(images_per_s(arch, int(batch), precision, kernel, args.steps))
            row = {kernel: statistics.median(values) for kernel, values in rates.items()}
            results[f"{arch} b{batch} {precision}"] = row
            print(
                f"{arch:9s} batch {batch:>3s} {precision:9s} keras {row['keras']:7.1f} images/s   "
                f"fused {row['fused']:7.1f} images/s   {row['fused'] / row['keras']:.2f}x"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
