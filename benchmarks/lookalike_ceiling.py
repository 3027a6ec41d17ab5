"""How well any reader can tell the `simple` style's characters apart, one glyph at a time, and
the full-string accuracy that leaves at most.

The `captcha` library crops each glyph's ink and stretches it into the character's text box,
which is the same box for a lowercase letter and its capital (`v`/`V`, `x`/`X`, `z`/`Z`, ...).
This script measures what is left to tell them apart:

1. It draws glyphs of every character of 0-9a-zA-Z through the library's own per-character code
   (`ImageCaptcha._draw_character`: random font size, offsets, rotation and warp; its colours,
   its paste mask and its final smoothing), each alone on a plain background: no noise dots, no
   curve, no neighbours overlapping it and no squeeze to the captcha's width. Every glyph is a
   fresh random drawing, so the reader never sees a test glyph twice.
2. A small CNN learns the 62 characters from `--train-per-char` glyphs each, and is scored on
   `--test-per-char` glyphs of another seed. Its per-character accuracy and top confusions are
   printed.
3. With `--heldout DIR` (a labelled `simple` folder), it multiplies, for each captcha, the
   per-character accuracies of its characters: the expected full-string accuracy of a reader
   that reads every glyph as well as this one and makes no other mistake.

A glyph alone is easier to read than the same glyph in a captcha, so step 3 is an optimistic
figure for this reader; a better reader could raise it. Running it with more training glyphs
shows whether the reader has stopped improving (then the figure is near what the drawing allows).

    python benchmarks/lookalike_ceiling.py --train-per-char 1000 --epochs 5 --heldout runs/simple-heldout
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.ImageDraw import Draw
from PIL.ImageFilter import SMOOTH

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.data.datasets import find_images, label_from_name
from captcha_cli.data.synthetic import seeded_captcha_library

HEIGHT = 60  # the captcha's height: the library centres each glyph on it
WIDTH = 48  # wider than any glyph's text box at the largest font size


def draw_glyphs(chars: str, per_char: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_char` fresh drawings of every character: grey images in [0, 1] and class indices."""
    images, labels = [], []
    with seeded_captcha_library(seed) as library:
        maker = library.ImageCaptcha(width=WIDTH, height=HEIGHT)
        for _ in range(per_char):
            for index, char in enumerate(chars):
                background = library.random_color(238, 255)
                color = library.random_color(10, 200, library.secrets.randbelow(36) + 220)
                canvas = Image.new("RGB", (WIDTH, HEIGHT), background)
                glyph = maker._draw_character(char, Draw(canvas), color)
                mask = glyph.convert("L").point(maker.lookup_table)
                canvas.paste(glyph, ((WIDTH - glyph.width) // 2, (HEIGHT - glyph.height) // 2), mask)
                grey = np.asarray(canvas.filter(SMOOTH).convert("L"), dtype=np.float32)
                low, high = grey.min(), grey.max()
                images.append((high - grey) / max(high - low, 1.0))  # ink 1, background 0
                labels.append(index)
    return np.stack(images)[..., None], np.asarray(labels, dtype=np.int32)


def build_reader(classes: int):
    """A small CNN for one glyph: three stages of two 3x3 convolutions and a 2x2 pool, then a softmax."""
    import keras
    from keras import layers

    inputs = keras.Input((HEIGHT, WIDTH, 1))
    x = inputs
    for filters in (16, 32, 64):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(256, activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def per_char_accuracy(truth: np.ndarray, predicted: np.ndarray, chars: str) -> dict[str, float]:
    return {char: float(np.mean(predicted[truth == i] == i)) for i, char in enumerate(chars)}


def top_confusions(truth: np.ndarray, predicted: np.ndarray, chars: str, count: int) -> list[tuple[str, str, int]]:
    wrong = truth != predicted
    pairs = Counter((chars[t], chars[p]) for t, p in zip(truth[wrong], predicted[wrong], strict=True))
    return [(a, b, n) for (a, b), n in pairs.most_common(count)]


def full_string_ceiling(labels: list[str], accuracy: dict[str, float]) -> float:
    """Mean over captchas of the product of their characters' accuracies."""
    return float(np.mean([np.prod([accuracy[char] for char in label]) for label in labels]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-per-char", type=int, default=1000, help="training glyphs per character")
    parser.add_argument("--test-per-char", type=int, default=300, help="test glyphs per character (another seed)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the training glyphs; the test glyphs use seed+1")
    parser.add_argument("--heldout", type=Path, help="a labelled `simple` folder to compute the ceiling on")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    import keras

    keras.utils.set_random_seed(args.seed)
    chars = DEFAULT_CHARSET
    started = time.perf_counter()
    x_train, y_train = draw_glyphs(chars, args.train_per_char, args.seed)
    x_test, y_test = draw_glyphs(chars, args.test_per_char, args.seed + 1)
    print(f"drew {len(x_train)} training and {len(x_test)} test glyphs in {time.perf_counter() - started:.0f} s")

    reader = build_reader(len(chars))
    history = reader.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=2, shuffle=True)
    predicted = reader.predict(x_test, batch_size=512, verbose=0).argmax(axis=1)
    accuracy = per_char_accuracy(y_test, predicted, chars)
    result = {
        "train_per_char": args.train_per_char,
        "test_per_char": args.test_per_char,
        "epochs": args.epochs,
        "train_accuracy": float(history.history["accuracy"][-1]),
        "glyph_accuracy": float(np.mean(predicted == y_test)),
        "per_char_accuracy": accuracy,
        "top_confusions": top_confusions(y_test, predicted, chars, 20),
    }
    print(f"\nglyph accuracy {result['glyph_accuracy']:.2%} (last training epoch {result['train_accuracy']:.2%})")
    print("characters read below 99%:")
    for char, value in sorted(accuracy.items(), key=lambda item: item[1]):
        if value < 0.99:
            print(f"  {char}  {value:.1%}")
    print("top confusions (truth -> read, count of", args.test_per_char, "per character):")
    for truth, read, count in result["top_confusions"]:
        print(f"  {truth} -> {read}  {count}")
    if args.heldout:
        labels = [label_from_name(path) for path in find_images(args.heldout)]
        result["heldout"] = str(args.heldout)
        result["full_string_ceiling"] = full_string_ceiling(labels, accuracy)
        print(
            f"\nexpected full-string accuracy on {len(labels)} captchas of {args.heldout} "
            f"for a reader this good per glyph and perfect otherwise: {result['full_string_ceiling']:.1%}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
