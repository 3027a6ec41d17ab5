"""Input pipeline speed: audit, decode + normalize + resize per backend, and the batch stream,
against the model's training rate (measured separately by train_speed.py), and `--augment`'s
pixel noise drawn per batch (as before commit 0ad649c) against the noise bank (now).

Usage: python benchmarks/pipeline_speed.py [--images 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.data.datasets import audit_folder
from captcha_cli.data.imagecache import build_cache
from captcha_cli.data.synthetic import generate_folder


def median_rate(count: int, repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "noisy"
        generate_folder(folder, args.images, "noisy", DEFAULT_CHARSET, (4, 6), 200, 60, seed=0)
        rates = {
            "audit (hash + header + end marker)": median_rate(args.images, args.repeats, lambda: audit_folder(folder))
        }
        samples = audit_folder(folder).samples
        for backend in ("opencv", "pil", "none"):
            rates[f"decode+normalize+resize, {backend}"] = median_rate(
                args.images, args.repeats, lambda b=backend: build_cache(samples, (60, 200, 3), b)
            )
        cache, _ = build_cache(samples, (60, 200, 3), "opencv", out_dir=Path(tmp) / "cache")
        ids = np.zeros((len(cache), 6), np.int32)
        from captcha_cli import runtime

        runtime.import_tensorflow()
        from captcha_cli.training.batches import AUGMENTATION, batch_stream, gaussian_noise

        for augment in (False, True):
            stream = batch_stream(cache.images, ids, 32, 0, 0, augment)
            rates[f"batch stream from memory-mapped cache{', augmented' if augment else ''}"] = median_rate(
                32 * 50, args.repeats, lambda s=stream: [next(s) for _ in range(50)]
            )
        rng, shape = np.random.default_rng(0), (32, 60, 200, 3)
        rates["pixel noise drawn per batch (NumPy normal, before)"] = median_rate(
            32 * 50, args.repeats, lambda: [rng.normal(0, AUGMENTATION.noise_std, shape) for _ in range(50)]
        )
        rates["pixel noise from the bank (now)"] = median_rate(
            32 * 50, args.repeats, lambda: [gaussian_noise(shape, rng) for _ in range(50)]
        )
    for name, rate in rates.items():
        print(f"{name:55s} {rate:9.0f} images/s")
    print(json.dumps({"images": args.images, "images_per_s": rates}))


if __name__ == "__main__":
    main()
