"""The input size and time resolution a CTC model takes from its data.

A CTC model reads one character per stretch of time steps along the width and needs a blank
between two equal neighbours, so labels of L characters need at least 2L - 1 steps and read
better with room to spare. The input keeps the images' own size and aspect (no upscaling of
small captchas; tall ones are scaled down to MAX_HEIGHT), and the time steps come first from
keeping the width in later stages (stride 1 along the width, as CRNN's 2x1 pooling does: cheap,
the maps are small there), and only then from a wider input.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from captcha_cli.charset import charset_from_labels
from captcha_cli.data.datasets import Sample
from captcha_cli.errors import TrainingError
from captcha_cli.spec import ModelSpec, preset_fields

MAX_HEIGHT = 64
MIN_SIDE = 16  # the smallest input ModelSpec accepts
STEPS_PER_CHARACTER = 4  # time steps wanted per label character (at least 2L + 1 in all)


@dataclass(frozen=True)
class Geometry:
    """What a model reads: input height and width, and each stage's stride along the width."""

    height: int
    width: int
    stage_width_strides: tuple[int, ...]
    time_steps: int
    wanted_steps: int


def steps_wanted(max_length: int) -> int:
    """Time steps chosen for labels up to `max_length` characters."""
    return max(STEPS_PER_CHARACTER * max_length, 2 * max_length + 1)


def typical_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The median (width, height) of the images."""
    return int(statistics.median(w for w, _ in sizes)), int(statistics.median(h for _, h in sizes))


def input_size(width: int, height: int) -> tuple[int, int]:
    """(height, width) of the model input for images of this size: their own, at most MAX_HEIGHT high."""
    scale = min(1.0, MAX_HEIGHT / height)
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def time_steps(width: int, leading_strides: tuple[int, ...], width_strides: tuple[int, ...]) -> int:
    """Steps along the width after the stem, the pool and the stages ('same' padding)."""
    for stride in (*leading_strides, *width_strides):
        width = math.ceil(width / stride)
    return width


def choose_geometry(
    sizes: list[tuple[int, int]],
    max_length: int,
    leading_strides: tuple[int, ...],
    stage_strides: tuple[int, ...],
    height: int | None = None,
    width: int | None = None,
) -> Geometry:
    """The input size and width strides for images of `sizes` (width, height) and labels up to
    `max_length`; `height`/`width` given by the user are kept as they are."""
    typical_w, typical_h = typical_size(sizes)
    chosen_h, chosen_w = input_size(typical_w, typical_h)
    if height is not None:
        chosen_h = height
        if width is None:
            chosen_w = max(MIN_SIDE, round(typical_w * height / typical_h))
    if width is not None:
        chosen_w = width
    wanted = steps_wanted(max_length)
    strides = list(stage_strides)
    for index in reversed(range(len(strides))):  # keep the width in the latest stages first
        if time_steps(chosen_w, leading_strides, tuple(strides)) >= wanted:
            break
        strides[index] = 1
    total = math.prod((*leading_strides, *strides))
    if width is None and time_steps(chosen_w, leading_strides, tuple(strides)) < wanted:
        chosen_w = wanted * total
    return Geometry(
        chosen_h,
        chosen_w,
        tuple(strides),
        time_steps(chosen_w, leading_strides, tuple(strides)),
        wanted,
    )


def spec_for_data(
    arch: str,
    samples: list[Sample],
    charset: str | None = None,
    max_length: int | None = None,
    overrides: dict[str, Any] | None = None,
    cache_shape: tuple[int, ...] | None = None,
) -> ModelSpec:
    """A new model's spec for labelled images: the preset, the labels' charset and length (unless
    given) and, for a CTC model, the input size and time steps chosen from the images (unless
    --height/--width in `overrides`, or a cache's fixed shape, say otherwise). `stage_width_strides`
    in `overrides` (benchmarks/levers.py, to measure a geometry) takes the whole geometry as given."""
    labels = [s.label for s in samples]
    charset = charset or charset_from_labels(labels)
    max_length = max_length or max(len(label) for label in labels)
    fields = {**preset_fields(arch), **(overrides or {})}
    if fields.get("loss", ModelSpec.loss) == "ctc" and "stage_width_strides" not in (overrides or {}):
        height, width = fields.get("height"), fields.get("width")
        if cache_shape is not None:
            height, width = cache_shape[0], cache_shape[1]
        sizes = [s.size for s in samples if s.size != (0, 0)] or [
            (width or ModelSpec.width, height or ModelSpec.height)
        ]
        strides = fields.get("stage_strides", ModelSpec.stage_strides)
        leading = (fields.get("stem_stride", ModelSpec.stem_stride), fields.get("pool_stride", ModelSpec.pool_stride))
        chosen = choose_geometry(sizes, max_length, leading, strides, height, width)
        if chosen.time_steps < 2 * max_length - 1:
            longest = max(samples, key=lambda s: len(s.label))
            fix = (
                "leave out --width (the tool then chooses one for the labels), or pass a larger one"
                if cache_shape is None
                else "rebuild the cache wider with `captcha preprocess DATA --cache DIR --width W`"
            )
            raise TrainingError(
                f"{longest.path}: its label {longest.label!r} has {len(longest.label)} characters, which need at least "
                f"{2 * max_length - 1} CTC time steps; an input {chosen.width} pixels wide gives {chosen.time_steps}",
                hint=fix,
            )
        fields.update(height=chosen.height, width=chosen.width, stage_width_strides=chosen.stage_width_strides)
    return ModelSpec(arch=arch, charset=charset, max_length=max_length, **fields)
