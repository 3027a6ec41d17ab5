"""Freshly generated captchas for `--synthetic-mix`: each training batch can swap part of its
images for new synthetic ones, drawn in the data's charset and label lengths and put through the
model's own preprocessing, so the model never sees the same synthetic image twice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from captcha_cli.data.preprocessing import prepare_uint8
from captcha_cli.data.synthetic import STYLES, sample
from captcha_cli.errors import CaptchaError
from captcha_cli.spec import ModelSpec

SERIES_SALT = 104_729  # keeps the mix's series apart from `captcha generate --seed N`
DRAWING_HEIGHT = 60  # the styles' glyph sizes, line widths and dot counts are drawn for 60 pixels high


def drawing_size(spec: ModelSpec) -> tuple[int, int]:
    """(width, height) fresh captchas are drawn at before the model's preprocessing resizes them:
    60 pixels high, as the styles are drawn, and of the model's input aspect, so glyphs keep their
    shape (a 72x24 model gets 180x60 drawings, a 360x60 one 360x60, a 200x60 one 200x60)."""
    return max(1, round(DRAWING_HEIGHT * spec.width / spec.height)), DRAWING_HEIGHT


@dataclass(frozen=True)
class FreshCaptchas:
    """A seeded, endless series of synthetic training samples, addressable by step (so resumable)."""

    spec: ModelSpec
    style: str
    lengths: tuple[int, ...]
    seed: int

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise CaptchaError(f"unknown style; choose one of {', '.join(STYLES)}. Received: style={self.style!r}")
        too_long = [n for n in self.lengths if n > self.spec.max_length or n < 1]
        if not self.lengths or too_long:
            raise CaptchaError(f"label lengths must be 1..{self.spec.max_length}. Received: lengths={self.lengths}")

    def batch(self, step: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """`count` new images (uint8, the model's input shape) and their label ids for `step`."""
        spec, codec = self.spec, self.spec.codec
        images = np.empty((count, *spec.input_shape), dtype=np.uint8)
        ids = np.empty((count, spec.max_length), dtype=np.int32)
        width, height = drawing_size(spec)
        for i in range(count):
            text, image = sample(
                self.style, self.seed + SERIES_SALT, step * count + i, spec.charset, self.lengths, width, height
            )
            rgb = np.asarray(image, dtype=np.uint8)
            images[i] = prepare_uint8(rgb, spec.height, spec.width, spec.channels, spec.preprocessing)
            ids[i] = codec.encode(text)
        return images, ids


def mixed_count(batch_size: int, fraction: float) -> int:
    """How many of a batch's samples are fresh synthetic ones (at least one when fraction > 0)."""
    if fraction <= 0:
        return 0
    return min(batch_size, max(1, round(batch_size * fraction)))
