"""Training speed, side by side in one run: the original system's way (the seed's model, Keras's
layers and Adam, `model.fit` in float32 on one NumPy array) against `captcha train` itself in
each precision, and each row's FLOP rate as a fraction of this machine's matrix-multiply peak in
the same precision (a large square matmul through TensorFlow, measured in the same run).

Usage: python benchmarks/train_speed.py [--arch resnet34] [--batch-size 32] [--steps 24] [--warmup 6]
       [--repeats 1] [--precisions float32,bfloat16] [--images 256]
The `captcha train` rows run the command's own workflow (`run_training`: the preset's recipe,
`Model.fit` with its callbacks, the tf.data input, augmentation) on a folder of `--images`
generated `noisy` captchas, stopped at `warmup + steps` steps; their images/s are what the run's
metrics.csv records for the round after the warm-up round (which holds the tracing). The baseline
is the median step over its timed steps. Repeats run every row in turn and the median is taken.
Prints the CPU, a table, which precision `--precision auto` picks here, and one JSON line.
Training FLOPs per image are counted as 3 x 2 x the model's multiply-accumulates (forward, and a
backward pass of twice the forward's work), the usual convention.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from generated import captchas
from machine import commit, cpu_name

from captcha_cli import runtime

runtime.set_debug(False)
runtime.import_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from captcha_cli.charset import DEFAULT_CHARSET  # noqa: E402
from captcha_cli.data.synthetic import generate_folder  # noqa: E402
from captcha_cli.model.kernels import Kernels  # noqa: E402
from captcha_cli.model.network import build_model, layer_macs  # noqa: E402
from captcha_cli.precision import detect_precision  # noqa: E402
from captcha_cli.reporting import NullReporter  # noqa: E402
from captcha_cli.spec import ModelSpec, load_spec, spec_for_arch, train_config_for  # noqa: E402
from captcha_cli.training.request import DataOptions, TrainRequest  # noqa: E402
from captcha_cli.training.runs import MetricsLog  # noqa: E402
from captcha_cli.training.trainer import run_training  # noqa: E402

BASELINE = "baseline fit float32"


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
    """The original: sigmoid outputs, binary cross-entropy, model.fit on a NumPy array, float32.
    The images repeat to fill every step (one pass over too few would end the epoch early)."""
    keras.mixed_precision.set_dtype_policy("float32")
    model = build_model(spec, ORIGINAL_KERNELS)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    order = np.arange((steps + warmup) * batch) % len(images)
    targets = np.eye(spec.num_classes, dtype=np.float32)[ids[order]].reshape(len(order), -1)
    x = images[order].astype(np.float32) / 255.0
    timer = StepTimer()
    model.fit(x, targets, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
    return timer.times[warmup:]


def ours(folder: Path, project: Path, args: argparse.Namespace, precision: str, name: str) -> tuple[float, ModelSpec]:
    """`captcha train FOLDER --arch ARCH --batch-size BATCH --precision PRECISION` itself (the
    preset's recipe, `Model.fit` and its callbacks, the tf.data input and augmentation), stopped at
    `warmup + steps`: its images/s are those its metrics.csv records for the round after the
    warm-up round, which holds the tracing. Returns (images/s, the spec it trained)."""
    steps, warmup = args.steps, args.warmup
    config = train_config_for(
        args.arch,
        batch_size=args.batch_size,
        precision=precision,
        max_steps=warmup + steps,
        val_every=warmup,
        save_every=10**9,
    )
    request = TrainRequest(config=config, data=DataOptions(data=folder), arch=args.arch, project=project, name=name)
    result = run_training(request, NullReporter())
    rows = MetricsLog(result.run_dir / "metrics.csv").rows
    timed = next(row for row in rows if row["step"] == warmup + steps)
    return timed["images_per_s"], load_spec(result.run_dir / "last.keras")


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats of every row (median taken)")
    parser.add_argument("--images", type=int, default=256, help="generated captchas to train on")
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    seed_spec = spec_for_arch(args.arch, charset=DEFAULT_CHARSET, max_length=6, loss="softmax")
    texts, images = captchas(args.images)
    ids = np.array([seed_spec.codec.encode(t) for t in texts], dtype=np.int32)
    rates: dict[str, list[float]] = {BASELINE: [], **{f"captcha train {p}": [] for p in precisions}}
    specs = {BASELINE: seed_spec}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "data"
        generate_folder(folder, args.images, "noisy", DEFAULT_CHARSET, (4, 6), 200, 60, 0)
        for repeat in range(args.repeats):  # interleaved, so a busy spell on the shared machine hits every row
            step_times = baseline(seed_spec, images, ids, args.batch_size, args.steps, args.warmup)
            rates[BASELINE].append(args.batch_size / statistics.median(step_times))
            for precision in precisions:
                name = f"captcha train {precision}"
                rate, specs[name] = ours(folder, Path(scratch) / "runs", args, precision, f"{precision}-{repeat}")
                rates[name].append(rate)
    rows = {name: statistics.median(values) for name, values in rates.items()}
    base = rows[BASELINE]
    flops = {name: training_flops_per_image(spec) for name, spec in specs.items()}
    peaks = {p: matmul_peak(p) for p in dict.fromkeys(("float32", *precisions))}
    print(
        f"{args.arch}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up; "
        f"{cpu_name()}; TF {tf.__version__}, commit {commit()}"
    )
    for precision, peak in peaks.items():
        print(f"matmul peak {precision:9s} {peak / 1e9:8.1f} GFLOP/s (4096^3 through TensorFlow)")
    utilisation = {}
    for name, rate in rows.items():
        precision, spec = name.rsplit(" ", 1)[1], specs[name]
        utilisation[name] = rate * flops[name] / peaks[precision]
        print(
            f"{name:28s} {rate:8.1f} images/s   {rate / base:5.2f}x baseline   input {spec.width}x{spec.height}, "
            f"{flops[name] / 1e9:.2f} GFLOP/image = {utilisation[name]:.1%} of the {precision} matmul peak"
        )
    auto = detect_precision("auto")
    fastest = max(precisions, key=lambda p: rows[f"captcha train {p}"])
    print(f"--precision auto picks {auto} here; the fastest measured: {fastest}")
    print(
        json.dumps(
            {
                "arch": args.arch,
                "batch_size": args.batch_size,
                "cpu": cpu_name(),
                "images_per_s": rows,
                "images_per_s_each_repeat": rates,
                "training_flops_per_image": flops,
                "matmul_peak_flops": peaks,
                "fraction_of_peak": utilisation,
                "auto_precision": auto,
                "fastest_precision": fastest,
            }
        )
    )


if __name__ == "__main__":
    main()
