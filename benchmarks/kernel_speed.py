"""Training kernels side by side in one run: Keras's own layers and Adam against the model's
kernels, added one at a time, the same model otherwise, each trained by `captcha train`'s own
`TrainingModel` under `Model.fit` (tf.data from uint8 images, the chosen precision) on 256
generated captchas.

Rows, each adding one kernel to the row above:
  keras           Keras 3's BatchNormalization, Conv2D and Adam
  fused BN        FusedBatchNormalization (TensorFlow's fused kernel)
  matmul conv     SmallMapConv2D (kernel gradient as one matmul on small maps)
  fused Adam      FusedAdam (ResourceApplyAdam): what `captcha train` runs

Usage: python benchmarks/kernel_speed.py [--archs resnet34:32,small:64] [--precisions float32,bfloat16]
       [--steps 10] [--repeats 2]
Prints one line per arch, precision and row (images/s, the median over interleaved repeats of
each row's median step, because the machine is shared) and one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics

import numpy as np
from generated import captchas
from train_speed import StepTimer, keras  # also imports TensorFlow quietly

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.model.kernels import FAST_KERNELS, KERAS_KERNELS, Kernels
from captcha_cli.model.losses import make_loss
from captcha_cli.model.network import build_model
from captcha_cli.precision import POLICIES
from captcha_cli.spec import ModelSpec, TrainConfig, spec_for_arch
from captcha_cli.training.batches import batch_stream
from captcha_cli.training.fit_model import TrainingModel
from captcha_cli.training.tf_input import training_dataset
from captcha_cli.training.trainer import make_optimizer

ROWS: dict[str, tuple[Kernels, bool]] = {
    "keras": (KERAS_KERNELS, False),
    "fused BN": (Kernels(conv=keras.layers.Conv2D), False),
    "matmul conv": (FAST_KERNELS, False),
    "fused Adam": (FAST_KERNELS, True),
}


def step_times(
    spec: ModelSpec,
    images: np.ndarray,
    ids: np.ndarray,
    batch: int,
    steps: int,
    warmup: int,
    precision: str,
    kernels: Kernels,
    fused_adam: bool,
) -> list[float]:
    """Seconds per timed step of `TrainingModel.fit` with `kernels`, and the fused Adam update
    (`captcha train`'s optimizer) or Keras's own Adam."""
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
    trainer = TrainingModel(model, make_loss(spec))
    trainer.compile(optimizer=optimizer, jit_compile=False)
    stream = functools.partial(batch_stream, images, ids, batch, 0, 0, False)
    dataset = training_dataset(stream, (batch, *images.shape[1:]), (batch, ids.shape[1]))
    timer = StepTimer()
    trainer.fit(dataset, epochs=1, steps_per_epoch=steps + warmup, verbose=0, callbacks=[timer])
    return timer.times[warmup:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default="resnet34:32,small:64", help="ARCH:BATCH pairs")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    texts, images = captchas(256)
    results: dict[str, dict[str, float]] = {}
    for item in args.archs.split(","):
        arch, batch = item.split(":")
        spec = spec_for_arch(arch, charset=DEFAULT_CHARSET, max_length=6, loss="ctc" if arch == "small" else "softmax")
        ids = np.array([spec.codec.encode(t) for t in texts], dtype=np.int32)
        for precision in args.precisions.split(","):
            rates: dict[str, list[float]] = {row: [] for row in ROWS}
            for _ in range(args.repeats):
                for row, (kernels, fused_adam) in ROWS.items():
                    times = step_times(spec, images, ids, int(batch), args.steps, 3, precision, kernels, fused_adam)
                    rates[row].append(int(batch) / statistics.median(times))
            medians = {row: statistics.median(values) for row, values in rates.items()}
            results[f"{arch} b{batch} {precision}"] = medians
            for row, rate in medians.items():
                print(
                    f"{arch:9s} batch {batch:>3s} {precision:9s} {row:12s} {rate:7.1f} images/s   "
                    f"{rate / medians['keras']:.2f}x keras"
                )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
