"""How alike the built-in styles draw different characters: the pairs a reader must tell apart
from almost the same pixels.

For each style the script draws every character of 0-9a-zA-Z the way the style's renderer does,
before rotation, warping and noise (which both characters of a pair get alike):

- `noisy` (captcha_cli.data.synthetic.render_noisy): DejaVu Sans Bold at each size 33-39, the glyph's
  ink cropped (each glyph is centred on its own box, so its size is the only cue left).
- `simple` (the `captcha` library): DroidSansMono at each size 42, 50 and 56, the ink cropped and
  stretched into the character's text box, as the library does.

Two drawings are compared by the intersection over union of their ink, centred on each other.
For every pair of different characters the best IoU over all size combinations is kept (same size
only for `simple`, whose stretch removes the size difference anyway). With `--labels STYLE=DIR`, it also
counts how many captchas of a labelled folder of that style contain a character of a close pair.

    python benchmarks/glyph_similarity.py --labels noisy=runs/heldout --labels simple=runs/simple-heldout
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from PIL.Image import Transform
from PIL.ImageFont import truetype

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.data.datasets import find_images, label_from_name
from captcha_cli.data.synthetic import noisy_glyph


def noisy_ink(char: str, size: int) -> np.ndarray:
    """The ink (alpha) of one `noisy` glyph before rotation, drawn by the renderer's own code."""
    alpha = noisy_glyph(char, size, (0, 0, 0)).getchannel("A")
    return _crop(np.asarray(alpha, dtype=np.float32) / 255)


def simple_glyph(char: str, size: int) -> np.ndarray:
    """The ink of one `simple` glyph before rotation and warping: cropped, then stretched into
    the character's text box, as the captcha library's ImageCaptcha does."""
    import captcha.image as library

    glyph_font = truetype(library.DEFAULT_FONTS[0], size)
    _, _, width, height = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox((1, 1), char, font=glyph_font)
    image = Image.new("L", (int(width), int(height)), 0)
    ImageDraw.Draw(image).text((0, 0), char, font=glyph_font, fill=255)
    image = image.crop(image.getbbox())
    quad = (0, 0, 0, image.height, image.width, image.height, image.width, 0)
    stretched = image.transform((int(width), int(height)), Transform.QUAD, quad)
    return np.asarray(stretched, dtype=np.float32) / 255


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def centred_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Soft intersection over union of two ink images centred on each other."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    pa, pb = np.zeros((height, width), np.float32), np.zeros((height, width), np.float32)
    for canvas, ink in ((pa, a), (pb, b)):
        top, left = (height - ink.shape[0]) // 2, (width - ink.shape[1]) // 2
        canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return float(np.minimum(pa, pb).sum() / np.maximum(pa, pb).sum())


def close_pairs(style: str, threshold: float) -> list[tuple[float, str, str, int, int]]:
    """(IoU, char, other char, size, other size) for every pair at or above `threshold`."""
    sizes = range(33, 40) if style == "noisy" else (42, 50, 56)
    draw = noisy_ink if style == "noisy" else simple_glyph
    drawings = {(char, size): draw(char, size) for char in DEFAULT_CHARSET for size in sizes}
    pairs = []
    for first, second in itertools.combinations(DEFAULT_CHARSET, 2):
        size_pairs = itertools.product(sizes, sizes) if style == "noisy" else ((s, s) for s in sizes)
        iou, s1, s2 = max((centred_iou(drawings[first, a], drawings[second, b]), a, b) for a, b in size_pairs)
        if iou >= threshold:
            pairs.append((iou, first, second, s1, s2))
    return sorted(pairs, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.85, help="IoU from which a pair is listed")
    parser.add_argument("--labels", action="append", default=[], help="STYLE=DIR: a labelled folder of that style")
    args = parser.parse_args()
    folders = dict(item.split("=", 1) for item in args.labels)
    for style in ("noisy", "simple"):
        pairs = close_pairs(style, args.threshold)
        print(f"\n{style}: {len(pairs)} pairs of characters with ink IoU >= {args.threshold}")
        print("| pair | IoU | sizes |\n|---|---:|---|")
        for iou, first, second, s1, s2 in pairs:
            print(f"| `{first}` / `{second}` | {iou:.2f} | {s1} / {s2} |")
        close = {char for _, first, second, _, _ in pairs for char in (first, second)}
        if style in folders:
            labels = [label_from_name(path) for path in find_images(Path(folders[style]))]
            share = sum(any(char in close for char in label) for label in labels) / len(labels)
            chars = "".join(sorted(close))
            print(f"{share:.1%} of the {len(labels)} captchas in {folders[style]} contain one of {chars}")


if __name__ == "__main__":
    main()
