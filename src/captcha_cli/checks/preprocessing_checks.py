"""Section 4 of the report: each normalization step and parameter, checked by behaviour.

Each step's output is compared with the same OpenCV/PIL operation run here with the report's
parameters on the previous step's output, on generated captchas; then the whole pipeline's
promises (pure black and white, equal channels, dark text on light ground, size and range).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from captcha_cli.checks.base import Check, check, guarded
from captcha_cli.data.preprocessing import opencv_steps, pil_steps, prepare_uint8, resolve_backend, scale
from captcha_cli.data.synthetic import sample
from captcha_cli.spec import ModelSpec

OPENCV_ORDER = ["gray", "gaussian_blur", "clahe", "otsu", "open", "close", "invert", "sharpen", "rgb"]
PIL_ORDER = ["gray", "contrast", "brightness", "sharpen_1", "sharpen_2", "binarize", "invert", "rgb"]


def _images() -> list[np.ndarray]:
    """Two generated captchas and a light-text-on-dark-ground one (to exercise the inversion)."""
    images = [np.asarray(sample(style, 7, 0, "0123456789abcXYZ", (5,))[1]) for style in ("noisy", "simple")]
    return [*images, 255 - images[0]]


def _opencv_reference() -> list[tuple[str, str, object]]:
    import cv2

    sharpen = np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], dtype=np.float32)
    return [
        ("gray", "cv2.cvtColor(RGB2GRAY)", lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)),
        ("gaussian_blur", "GaussianBlur 3x3, sigma 0", lambda x: cv2.GaussianBlur(x, (3, 3), 0)),
        (
            "clahe",
            "CLAHE clipLimit 3.0, tiles 8x8",
            lambda x: cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(x),
        ),
        (
            "otsu",
            "THRESH_BINARY + THRESH_OTSU",
            lambda x: cv2.threshold(x, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1],
        ),
        (
            "open",
            "MORPH_OPEN, 2x2 rectangle",
            lambda x: cv2.morphologyEx(x, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)),
        ),
        (
            "close",
            "MORPH_CLOSE, 3x3 rectangle",
            lambda x: cv2.morphologyEx(x, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)),
        ),
        ("invert", "invert if mean < 128", lambda x: 255 - x if x.mean() < 128 else x),
        ("sharpen", "filter2D [[-1,-1,-1],[-1,9,-1],[-1,-1,-1]]", lambda x: cv2.filter2D(x, -1, sharpen)),
        ("rgb", "GRAY2RGB", lambda x: cv2.cvtColor(x, cv2.COLOR_GRAY2RGB)),
    ]


def _pil_reference() -> list[tuple[str, str, object]]:
    def run(fn):
        return lambda x: np.asarray(fn(Image.fromarray(x)))

    return [
        ("gray", "convert('L')", run(lambda im: im.convert("L"))),
        ("contrast", "Contrast x3.0", run(lambda im: ImageEnhance.Contrast(im).enhance(3.0))),
        ("brightness", "Brightness x1.2", run(lambda im: ImageEnhance.Brightness(im).enhance(1.2))),
        ("sharpen_1", "SHARPEN (pass 1 of 2)", run(lambda im: im.filter(ImageFilter.SHARPEN))),
        ("sharpen_2", "SHARPEN (pass 2 of 2)", run(lambda im: im.filter(ImageFilter.SHARPEN))),
        ("binarize", "255 if x > 128 else 0", run(lambda im: im.point(lambda v: 255 if v > 128 else 0))),
        ("invert", "invert if mean < 128", run(lambda im: ImageOps.invert(im) if np.mean(im) < 128 else im)),
        ("rgb", "convert('RGB')", run(lambda im: im.convert("RGB"))),
    ]


def _step_checks(path: str, steps_fn, reference, order: list[str]) -> list[Check]:
    images = _images()
    traces = [steps_fn(image) for image in images]
    results = [
        guarded(
            f"{path}: step order",
            " -> ".join(order),
            lambda: check(
                f"{path}: step order",
                " -> ".join(order),
                " -> ".join(n for n, _ in traces[0]),
                [n for n, _ in traces[0]] == order,
            ),
        )
    ]
    for position, (name, claim, fn) in enumerate(reference):

        def probe(position=position, name=name, claim=claim, fn=fn) -> Check:
            mismatches = 0
            for image, trace in zip(images, traces, strict=True):
                before = image if position == 0 else trace[position - 1][1]
                mismatches += int(not np.array_equal(trace[position][1], fn(before)))
            return check(
                f"{path}: {name}",
                claim,
                f"matches on {len(images) - mismatches}/{len(images)} images",
                mismatches == 0,
            )

        results.append(guarded(f"{path}: {name}", claim, probe))
    return results


def _behaviour_checks(backend: str) -> list[Check]:
    spec = ModelSpec()
    images = _images()

    def black_white() -> Check:
        outs = [prepare_uint8(i, spec.height, spec.width, 3, backend) for i in images]
        values = sorted(int(v) for v in np.unique(np.concatenate([o.ravel() for o in outs])))
        equal = all(np.array_equal(o[..., 0], o[..., c]) for o in outs for c in (1, 2))
        return check(
            f"{backend}: pure black and white, 3 equal channels",
            "pixel values {0, 255}; R == G == B",
            f"values {values}; channels equal: {equal}",
            set(values) <= {0, 255} and equal,
        )

    def dark_on_light() -> Check:
        light_text = images[-1]
        out = prepare_uint8(light_text, spec.height, spec.width, 3, backend)
        raw_mean = float(np.mean(light_text))
        return check(
            f"{backend}: dark text on light ground",
            "mean > 128 after, even for light-on-dark input",
            f"input mean {raw_mean:.0f} -> output mean {out.mean():.0f}",
            out.mean() > 128,
        )

    def size_range() -> Check:
        big = np.asarray(Image.fromarray(images[0]).resize((317, 101)))
        out = scale(prepare_uint8(big, spec.height, spec.width, 3, backend))
        return check(
            f"{backend}: model input size and range",
            "(60, 200, 3) float32 in [0, 1]",
            f"{big.shape} -> {out.shape} {out.dtype} in [{out.min():.0f}, {out.max():.0f}]",
            out.shape == (60, 200, 3) and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1,
        )

    return [
        guarded(f"{backend}: {n}", n, p)
        for n, p in (
            ("black and white", black_white),
            ("dark on light", dark_on_light),
            ("size and range", size_range),
        )
    ]


FALLBACK_CLAIM = "auto = OpenCV, PIL when cv2 cannot be imported"


def _fallback() -> Check:
    with_cv2, without = resolve_backend("auto", opencv=True), resolve_backend("auto", opencv=False)
    found = f"with cv2: {with_cv2}; without: {without}"
    return check("backend fallback", FALLBACK_CLAIM, found, (with_cv2, without) == ("opencv", "pil"))


def preprocessing_checks() -> list[Check]:
    """Every step and parameter of both paths, the fallback rule, and the pipeline's promises."""
    results = _step_checks("opencv", opencv_steps, _opencv_reference(), OPENCV_ORDER)
    results += _step_checks("pil", pil_steps, _pil_reference(), PIL_ORDER)
    results.append(guarded("backend fallback", FALLBACK_CLAIM, _fallback))
    results.append(
        check(
            "default preprocessing",
            "the report's OpenCV path, then resize to 200x60, scale to [0, 1]",
            f"spec default: {ModelSpec().preprocessing}",
            ModelSpec().preprocessing == "opencv",
        )
    )
    for backend in ("opencv", "pil"):
        results += _behaviour_checks(backend)
    return results
