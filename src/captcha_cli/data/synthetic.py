"""Synthetic labelled captchas: `simple` (the captcha library), `noisy` (the original system's
style), `crowded` (noisy with uneven, overlapping gaps) and `arithmetic` (`12+34=?` in the noisy
style, labelled with the expression)."""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from importlib import resources
from itertools import pairwise
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from captcha_cli.atomic import atomic_write, write_bytes_atomic
from captcha_cli.data.arithmetic import random_expression
from captcha_cli.errors import CaptchaError

STYLES = ("noisy", "crowded", "simple", "arithmetic")
# styles whose labels cannot be file names (`/` divides): listed in labels.csv instead
MANIFEST_STYLES = ("arithmetic",)
MANIFEST = "labels.csv"
FONT_FILE = "DejaVuSans-Bold.ttf"


def parse_lengths(text: str) -> tuple[int, ...]:
    """`4,6` -> (4, 6); `4-6` -> (4, 5, 6); `5` -> (5,)."""
    try:
        if "-" in text:
            low, high = (int(v) for v in text.split("-", 1))
            lengths = tuple(range(low, high + 1))
        else:
            lengths = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CaptchaError(f"lengths must look like 4, 4,6 or 4-6. Received: length={text!r}") from None
    if not lengths or min(lengths) < 1:
        raise CaptchaError(f"lengths must be positive. Received: length={text!r}")
    return lengths


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    path = resources.files("captcha_cli") / "fonts" / FONT_FILE
    with resources.as_file(path) as font_path:
        return ImageFont.truetype(str(font_path), size)


def _light(rng: np.random.Generator, low: int = 200) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, 256, 3))


def _dark(rng: np.random.Generator, high: int = 120) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, high, 3))


def _mid(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(60, 200, 3))


def _random_line(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    w: int,
    h: int,
    y_range: tuple[int, int],
    color,
    width: int,
) -> None:
    x1, x2 = int(rng.integers(0, w // 3)), int(rng.integers(2 * w // 3, w))
    y1, y2 = (int(rng.integers(*y_range)) for _ in range(2))
    draw.line([(x1, y1), (x2, y2)], fill=color, width=width)


def noisy_glyph(char: str, size: int, color: tuple[int, int, int]) -> Image.Image:
    """One `noisy` glyph before rotation: RGBA, centred on its own box, so only its size and
    shape are left to tell it from another character (benchmarks/glyph_similarity.py)."""
    glyph_font = font(size)
    box = glyph_font.getbbox(char)
    glyph = Image.new("RGBA", (box[2] + 8, box[3] + 8), (0, 0, 0, 0))
    ImageDraw.Draw(glyph).text((4, 4 - box[1] // 2), char, font=glyph_font, fill=(*color, 255))
    return glyph


def _rotated_glyph(char: str, rng: np.random.Generator, width: int, height: int, length: int) -> Image.Image:
    """One `noisy` glyph of a `length`-character text at a random size (33-39 pixels at 60 high),
    dark colour and tilt (+-30 degrees)."""
    size = int(rng.integers(33, 40)) * height // 60
    if length > 6:  # an arithmetic expression's 7 glyphs still fit (shorter texts as they always were)
        size = min(size, int(width / (length + 1) * 1.45))
    glyph = noisy_glyph(char, max(size, 8), _dark(rng))
    return glyph.rotate(float(rng.uniform(-30, 30)), expand=True, resample=Image.Resampling.BICUBIC)


def _paste_centred(image: Image.Image, glyph: Image.Image, cx: int, cy: int) -> None:
    image.paste(glyph, (cx - glyph.width // 2, cy - glyph.height // 2), glyph)


def _draw_even_text(image: Image.Image, text: str, rng: np.random.Generator) -> None:
    """Glyphs at even steps across the image, each nudged up to 4 pixels either way."""
    width, height = image.size
    step = width / (len(text) + 1)
    for i, char in enumerate(text):
        glyph = _rotated_glyph(char, rng, width, height, len(text))
        cx = int(step * (i + 1) + rng.integers(-4, 5))
        cy = int(height / 2 + rng.integers(-4, 5))
        _paste_centred(image, glyph, cx, cy)


def _draw_crowded_text(image: Image.Image, text: str, rng: np.random.Generator) -> None:
    """Glyphs at uneven gaps, from overlapping their neighbour by up to 40% to standing well apart,
    the whole line at a random place across the image and each glyph up to an eighth of the
    height off the middle."""
    width, height = image.size
    glyphs = [_rotated_glyph(char, rng, width, height, len(text)) for char in text]
    ink = [(g.getchannel("A").getbbox() or (0, 0, g.width, 0)) for g in glyphs]
    ink_widths = [right - left for left, _, right, _ in ink]
    gaps = [(a + b) / 2 * float(rng.uniform(0.6, 1.7)) for a, b in pairwise(ink_widths)]
    margin = max(width * 0.03, 1.0)
    room = width - 2 * margin
    ends = (ink_widths[0] + ink_widths[-1]) / 2  # the first and last glyphs' outer halves
    if gaps and ends + sum(gaps) > room:  # too long for the image: close the gaps to fit
        total = sum(gaps)
        gaps = [g * max(room - ends, 0) / total for g in gaps]
    span = ends + sum(gaps)
    start = margin + float(rng.uniform(0, max(room - span, 0))) + ink_widths[0] / 2
    centres = np.concatenate([[0.0], np.cumsum(gaps)]) + start
    wobble = max(height // 8, 1)
    for glyph, (left, _, right, _), cx in zip(glyphs, ink, centres, strict=True):
        cy = int(height / 2 + rng.integers(-wobble, wobble + 1))
        # centre the glyph's ink, not its box, on cx
        _paste_centred(image, glyph, int(cx - (left + right) / 2 + glyph.width / 2), cy)


def _draw_slanted_lines(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """4-8 thin lines between any two points of the image, at any angle."""
    for _ in range(int(rng.integers(4, 9))):
        points = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(2)]
        draw.line(points, fill=_mid(rng), width=1)


def render_noisy(
    text: str, rng: np.random.Generator, width: int = 200, height: int = 60, crowded: bool = False
) -> Image.Image:
    """A captcha in the original system's style: rotated bold glyphs, lines under and over the
    text, noise dots, arcs and, 40% of the time, a light blur. `crowded` (the `crowded` style)
    sets the glyphs at uneven, often overlapping gaps and adds lines at any angle."""
    image = Image.new("RGB", (width, height), _light(rng, 220))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 11))):  # background lines
        _random_line(draw, rng, width, height, (0, height), _light(rng, 150), 1)
    count = int(rng.integers(1000, 1501))
    canvas = np.array(image)
    canvas[rng.integers(0, height, count), rng.integers(0, width, count)] = rng.integers(60, 200, (count, 3))
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    (_draw_crowded_text if crowded else _draw_even_text)(image, text, rng)
    for _ in range(int(rng.integers(4, 8))):  # lines through the text
        _random_line(draw, rng, width, height, (height // 4, 3 * height // 4), _dark(rng, 160), int(rng.integers(1, 3)))
    for _ in range(int(rng.integers(3, 7))):  # top lines
        _random_line(draw, rng, width, height, (0, height // 4), _mid(rng), 1)
    if crowded:
        _draw_slanted_lines(draw, rng, width, height)
    for _ in range(int(rng.integers(2, 5))):  # arcs
        x0, y0 = int(rng.integers(-width // 4, width // 2)), int(rng.integers(-height // 2, height // 2))
        x1, y1 = x0 + int(rng.integers(width // 3, width)), y0 + int(rng.integers(height // 2, height * 2))
        start = float(rng.uniform(0, 360))
        draw.arc(
            [(x0, y0), (x1, y1)],
            start,
            start + float(rng.uniform(60, 180)),
            fill=_dark(rng, 160),
            width=int(rng.integers(1, 3)),
        )
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.8))))
    return image


class _SeededSecrets(random.Random):
    """Stands in for the `secrets` module inside the captcha library, so `--seed` reproduces files."""

    def randbelow(self, n: int) -> int:
        return self.randrange(n)

    def randbits(self, k: int) -> int:
        return self.getrandbits(k)


@contextmanager
def seeded_captcha_library(seed: int) -> Iterator[ModuleType]:
    """The `captcha` library's image module, drawing from `seed` instead of `secrets` until exit."""
    import captcha.image as library

    original = library.secrets
    library.secrets = _SeededSecrets(seed)
    try:
        yield library
    finally:
        library.secrets = original


def render_simple(text: str, rng: np.random.Generator, width: int = 200, height: int = 60) -> Image.Image:
    """A captcha drawn by the `captcha` library's ImageCaptcha (it ships its own font)."""
    with seeded_captcha_library(int(rng.integers(0, 2**63))) as library:
        return library.ImageCaptcha(width=width, height=height).generate_image(text).convert("RGB")


RENDERERS: dict[str, Callable[..., Image.Image]] = {
    "noisy": render_noisy,
    "crowded": partial(render_noisy, crowded=True),
    "simple": render_simple,
    "arithmetic": render_noisy,
}


def random_text(rng: np.random.Generator, charset: str, lengths: tuple[int, ...]) -> str:
    length = int(rng.choice(lengths))
    return "".join(charset[int(i)] for i in rng.integers(0, len(charset), length))


def sample(
    style: str,
    seed: int,
    index: int,
    charset: str,
    lengths: tuple[int, ...],
    width: int = 200,
    height: int = 60,
) -> tuple[str, Image.Image]:
    """The `index`-th captcha of a seeded series: the same seed and index give the same image."""
    if style not in RENDERERS:
        raise CaptchaError(f"unknown style; choose one of {', '.join(STYLES)}. Received: style={style!r}")
    rng = np.random.default_rng([seed, index])
    text = random_expression(rng) if style == "arithmetic" else random_text(rng, charset, lengths)
    return text, RENDERERS[style](text, rng, width, height)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def batch_images(
    style: str,
    seed: int,
    start: int,
    count: int,
    charset: str,
    lengths: tuple[int, ...],
    width: int,
    height: int,
) -> tuple[list[str], np.ndarray]:
    """`count` captchas of a series as texts and a uint8 array (count, height, width, 3)."""
    texts, arrays = [], []
    for index in range(start, start + count):
        text, image = sample(style, seed, index, charset, lengths, width, height)
        texts.append(text)
        arrays.append(np.asarray(image, dtype=np.uint8))
    return texts, np.stack(arrays)


def generate_folder(
    out: Path,
    count: int,
    style: str,
    charset: str,
    lengths: tuple[int, ...],
    width: int,
    height: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write `count` captchas of a seeded series into `out`; files already there are kept. Labels
    go in the file names (LABEL-<md5>.png), or for MANIFEST_STYLES in `labels.csv` (<md5>.png)."""
    if out.exists() and not out.is_dir():
        raise CaptchaError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(out, style) if style in MANIFEST_STYLES else None
    written = existing = 0
    for index in range(count):
        text, image = sample(style, seed, index, charset, lengths, width, height)
        data = png_bytes(image)
        digest = hashlib.md5(data).hexdigest()
        path = out / (f"{digest}.png" if manifest is not None else f"{text}-{digest}.png")
        if manifest is not None:
            manifest[path.name] = text
        if path.exists():
            existing += 1
        else:
            write_bytes_atomic(path, data)
            written += 1
        if progress:
            progress(1)
    if manifest is not None:
        _write_manifest(out, manifest)
    return {
        "folder": str(out),
        "style": style,
        "count": count,
        "written": written,
        "existing": existing,
        "seed": seed,
    }


def _read_manifest(out: Path, style: str) -> dict[str, str]:
    """The labels.csv rows already in `out`; refuses a folder of captchas labelled by name."""
    path = out / MANIFEST
    if not path.is_file():
        if any(p.suffix == ".png" for p in out.iterdir()):
            raise CaptchaError(
                f"{out}: holds images labelled by their names; {style} captchas are listed in {MANIFEST}",
                hint="write them into a folder of their own",
            )
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["filename"]: row["label"] for row in csv.DictReader(handle)}


def _write_manifest(out: Path, labels: dict[str, str]) -> None:
    with atomic_write(out / MANIFEST) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label"])
        writer.writerows(sorted(labels.items()))
