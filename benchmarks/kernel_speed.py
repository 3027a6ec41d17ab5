"""Training kernels side by side in one run: Keras's own layers and Adam against the model's
kernels, added one at a time, the same model otherwise, timed with train_speed.py's
`captcha train` step on its 256 generated captchas.

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
import json
import statistics

import numpy as np
from generated import captchas
from train_speed import keras, ours  # also imports TensorFlow quietly

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.model import FAST_KERNELS, KERAS_KERNELS, Kernels
from captcha_cli.spec import spec_for_arch

ROWS: dict[str, tuple[Kernels, bool]] = {
    "keras": (KERAS_KERNELS, False),
    "fused BN": (Kernels(conv=keras.layers.Conv2D), False),
    "matmul conv": (FAST_KERNELS, False),
    "fused Adam": (FAST_KERNELS, True),
}


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
                    times = ours(
                        spec, images, ids, int(batch), args.steps, 3, precision, kernels=kernels, fused_adam=fused_adam
                    )
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
