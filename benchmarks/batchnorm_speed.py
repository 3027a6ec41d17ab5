"""BatchNorm kernels side by side in one run: the model's FusedBatchNormalization (TensorFlow's
fused kernel) against Keras 3's own BatchNormalization (separate float32 reductions and
elementwise ops), the same model otherwise, timed with train_speed.py's `captcha train` step.

Usage: python benchmarks/batchnorm_speed.py [--archs resnet34:32,small:64] [--steps 10] [--repeats 2]
Prints one line per arch, precision and kernel (images/s, median of the timed steps; each pair is
repeated and interleaved because the machine is shared) and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
from train_speed import keras, ours  # also imports TensorFlow quietly

from captcha_cli import model as model_module
from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.preprocessing import prepare_uint8
from captcha_cli.spec import spec_for_arch
from captcha_cli.synthetic import batch_images

KERNELS = {
    "fused": model_module._batch_norm,
    "keras": lambda name: keras.layers.BatchNormalization(epsilon=1.001e-5, name=name),
}


def images_per_s(arch: str, batch: int, precision: str, kernel: str, steps: int, data) -> float:
    spec = spec_for_arch(arch, charset=DEFAULT_CHARSET, max_length=6, loss="ctc" if arch == "small" else "softmax")
    images, texts = data
    ids = np.array([spec.codec.encode(t) for t in texts], dtype=np.int32)
    model_module._batch_norm = KERNELS[kernel]
    try:
        times = ours(spec, images, ids, batch, steps, 3, precision)
    finally:
        model_module._batch_norm = KERNELS["fused"]
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default="resnet34:32,small:64", help="ARCH:BATCH pairs")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    texts, raw = batch_images("noisy", 0, 0, 256, DEFAULT_CHARSET, (4, 6), 200, 60)
    data = (np.stack([prepare_uint8(r, 60, 200, 3, "opencv") for r in raw]), texts)
    results: dict[str, dict[str, float]] = {}
    for item in args.archs.split(","):
        arch, batch = item.split(":")
        for precision in args.precisions.split(","):
            rates: dict[str, list[float]] = {"keras": [], "fused": []}
            for _ in range(args.repeats):
                for kernel in ("keras", "fused"):
                    rates[kernel].append(images_per_s(arch, int(batch), precision, kernel, args.steps, data))
            row = {kernel: statistics.median(values) for kernel, values in rates.items()}
            results[f"{arch} b{batch} {precision}"] = row
            print(
                f"{arch:9s} batch {batch:>3s} {precision:9s} keras {row['keras']:7.1f} images/s   "
                f"fused {row['fused']:7.1f} images/s   {row['fused'] / row['keras']:.2f}x"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
