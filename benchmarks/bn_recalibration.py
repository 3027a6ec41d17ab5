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

    from captcha_cli.data.imagecache import ImageCache, build_cache
    from captcha_cli.data.labelled import load_labelled
    from captcha_cli.inference.evaluation import score
    from captcha_cli.inference.readers import Reader
    from captcha_cli.training.runs import read_config

    reader = Reader(args.run / "best.keras")
    spec, saved = reader.spec, read_config(args.run)
    config, data = saved["config"], saved["data"]
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
    folder = load_labelled(args.heldout, spec.charset, spec.max_length, None, False, False, 0.5, 0)
    sets = {"validation": split.val, "heldout": folder.train + folder.val}
    caches: dict[str, ImageCache] = {
        name: build_cache(samples, spec.input_shape, spec.preprocessing)[0] for name, samples in sets.items()
    }
    train = build_cache(split.train, spec.input_shape, spec.preprocessing)[0]

    def scores() -> dict[str, dict[str, float]]:
        """`captcha evaluate`'s full-string and per-character accuracy on each set."""
        result = {}
        for name, cache in caches.items():
            predictions = []
            for start in range(0, len(cache), 128):
                predictions += reader.read_arrays(cache.images[start : start + 128], cache.paths[start : start + 128])
            scored = score(sets[name], predictions)
            result[name] = {key: scored[key] for key in ("full_string_accuracy", "char_accuracy")}
        return result

    before = scores()
    norms = [layer for layer in reader.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    order = np.random.default_rng(0).permutation(len(train))
    for k in range(args.batches):
        start = (k * args.batch_size) % len(train)
        index = np.sort(order[start : start + args.batch_size])
        for layer in norms:  # an exponential average with factor 1/(k+1) is the plain mean so far
            layer.momentum = 1.0 - 1.0 / (k + 1)
        reader.model(train.images[index].astype(np.float32) / 255.0, training=True)
    after = scores()
    print(json.dumps({"run": str(args.run), "batches": args.batches, "before": before, "after": after}))


if __name__ == "__main__":
    main()
