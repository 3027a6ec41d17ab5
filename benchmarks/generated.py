"""The benchmarks' training images: generated `noisy` captchas put through the tool's preprocessing.

No TensorFlow here, so gpu_train.py can use it on a machine that has only JAX.
"""

from __future__ import annotations

import numpy as np

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.data.preprocessing import prepare_uint8
from captcha_cli.data.synthetic import batch_images


def captchas(count: int, seed: int = 0, start: int = 0, backend: str = "opencv") -> tuple[list[str], np.ndarray]:
    """Captchas `start` to `start + count` of `captcha generate --style noisy --seed SEED`: their
    texts and uint8 images as training sees them (`backend`: the model spec's preprocessing)."""
    texts, raw = batch_images("noisy", seed, start, count, DEFAULT_CHARSET, (4, 6), 200, 60)
    return texts, np.stack([prepare_uint8(r, 60, 200, 3, backend) for r in raw])
