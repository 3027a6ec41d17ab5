"""Does re-estimating BatchNorm's moving statistics on un-augmented training images help a model
trained with `--augment`? Loads RUN/best.keras, scores it on the run's own validation split and on a
held-out folder, recomputes every BatchNorm layer's moving mean and variance as the plain average
over N batches of the run's training split (no augmentation), and scores it again.

Usage: python benchmarks/bn_recalibration.py RUN --heldout DIR [--batches 100] [--batch-size 64]
Prints one JSON line: full-string and per-character accuracy before and after, on both sets.
Nothing is written: the recalibrated model is not saved.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from captcha_cli import runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    runtime.import_tensorflow()
    import keras

    from captcha_cli.decoding import accuracy, decode_logits
    from captcha_cli.imagecache import ImageCache, build_cache
    from captcha_cli.labelled import load_labelled
    from captcha_cli.modelio import load_model
    from captcha_cli.runs import read_config

    model, spec, _ = load_model(args.run / "best.keras")
    saved = read_config(args.run)
    config = saved["config"]

    def cache(samples) -> ImageCache:
        return build_cache(samples, spec.input_shape, spec.preprocessing)[0]

    data = saved["data"]
    split = load_labelled(
        Path(data["data"]),
        spec.charset,
        spec.max_length,
        data["label_pattern"],
        data["ignore_case"],
        data["skip_invalid"],
        config["val_split"],
        config["seed"],
    )
    train, val = cache(split.train), cache(split.val)
    folder = load_labelled(args.heldout, spec.charset, spec.max_length, None, False, False, 0.5, 0)
    heldout = cache(folder.train + folder.val)

    def scores() -> dict[str, list[float]]:
        result = {}
        for name, cache in (("validation", val), ("heldout", heldout)):
            batches = range(0, len(cache), 128)
            logits = np.concatenate([model.predict_on_batch(scaled(cache.images[i : i + 128])) for i in batches])
            true_ids = np.array([spec.codec.encode(label) for label in cache.labels], dtype=np.int32)
            result[name] = list(accuracy(decode_logits(logits, spec)[0], true_ids))
        return result

    before = scores()
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    order = np.random.default_rng(0).permutation(len(train))
    for k in range(args.batches):
        start = (k * args.batch_size) % len(train)
        index = np.sort(order[start : start + args.batch_size])
        for layer in norms:  # an exponential average with factor 1/(k+1) is the plain mean so far
            layer.momentum = 1.0 - 1.0 / (k + 1)
        model(scaled(train.images[index]), training=True)
    after = scores()
    print(json.dumps({"run": str(args.run), "batches": args.batches, "before": before, "after": after}))


def scaled(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float32) / 255.0


if __name__ == "__main__":
    main()
