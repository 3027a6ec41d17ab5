"""On a CUDA machine: ResNet-34 training images/s at batch 64 in float32 and in mixed precision
(float16 with loss scaling), then the wall-clock time `captcha train` needs to reach 95%
full-string validation accuracy on the `noisy` set. Prints a short table and one JSON line.

Usage: python benchmarks/gpu_train.py [--batch-size 64] [--steps 30] [--budget 8m] [--data DIR]
Without --data it generates 8,000 `noisy` captchas (seed 0) into a temporary folder first.
Refuses to run without a GPU unless --allow-cpu (for checking the script itself).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from captcha_cli import runtime

runtime.set_debug(False)
runtime.import_tensorflow()

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from train_speed import captchas, ours  # noqa: E402

from captcha_cli.charset import DEFAULT_CHARSET  # noqa: E402
from captcha_cli.spec import spec_for_arch  # noqa: E402


def images_per_second(batch: int, steps: int, precision: str) -> float:
    spec = spec_for_arch("resnet34", charset=DEFAULT_CHARSET, max_length=6)
    texts, images = captchas(4 * batch)
    ids = np.array([spec.codec.encode(t) for t in texts], dtype=np.int32)
    return batch / statistics.median(ours(spec, images, ids, batch, steps, 5, precision))


def time_to_accuracy(data: Path, args: argparse.Namespace, work: Path) -> dict:
    """Run `captcha train` with a time budget; the first validation row at or above the target."""
    command = [
        *("captcha", "train", str(data), "--arch", args.arch, "--batch-size", str(args.batch_size)),
        *("--precision", args.mixed, "--time", args.budget, "--target-acc", str(args.target)),
        *("--val-every", "100", "--project", str(work), "--name", "to-target", "--quiet", "--json"),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(work / "to-target" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    reached = [r for r in rows if float(r["full_string_acc"]) >= args.target]
    best = max(float(r["full_string_acc"]) for r in rows)
    return {
        "command": " ".join(command),
        "seconds": float(reached[0]["elapsed_s"]) if reached else None,
        "step": int(reached[0]["step"]) if reached else None,
        "best_full_string_acc": best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--budget", default="8m", help="longest `captcha train` may run to reach --target")
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--data", type=Path, help="the noisy training set (default: generate 8,000)")
    parser.add_argument("--mixed", default="float16", help="the mixed precision (bfloat16 for a CPU check)")
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.allow_cpu:
        sys.exit("gpu_train.py: no GPU visible to TensorFlow (pass --allow-cpu to run it anyway)")
    card = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU"
    rates = {p: images_per_second(args.batch_size, args.steps, p) for p in ("float32", args.mixed)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = args.data
        if data is None:
            data = work / "noisy-8000"
            subprocess.run(["captcha", "generate", str(data), "--count", "8000", "--seed", "0", "-q"], check=True)
        target = time_to_accuracy(data, args, work)
    print(f"{card}, TensorFlow {tf.__version__}, ResNet-34 batch {args.batch_size}")
    print(f"float32                      {rates['float32']:8.1f} images/s")
    mixed = rates[args.mixed]
    print(f"mixed precision ({args.mixed})   {mixed:8.1f} images/s   {mixed / rates['float32']:.2f}x")
    reached = f"{target['seconds']:.0f} s (step {target['step']})" if target["seconds"] else "not reached"
    best = target["best_full_string_acc"]
    print(f"time to {args.target:.0%} ({args.arch}, {args.budget} budget): {reached}; best {best:.1%}")
    print(json.dumps({"device": card, "images_per_s": rates, "time_to_target": target}))


if __name__ == "__main__":
    main()
