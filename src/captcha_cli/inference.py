"""Load a model with its spec, read captchas, and evaluate on labelled data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captcha_cli.errors import ImageError, ModelFileError
from captcha_cli.losses import decode_logits
from captcha_cli.modelio import load_model
from captcha_cli.preprocessing import load_for_model


@dataclass
class Prediction:
    path: str
    text: str
    confidence: float
    position_probs: list[float]


def newest_best_model(project: Path) -> Path:
    """The most recently written `best.keras` under a project folder (default `runs/`)."""
    found = sorted(project.glob("*/best.keras"), key=lambda p: p.stat().st_mtime) if project.is_dir() else []
    if not found:
        raise ModelFileError(
            f"no trained model found under {project}/", hint="train one with `captcha train`, or pass --model PATH"
        )
    return found[-1]


class Reader:
    """A loaded model and its spec, reading images in batches."""

    def __init__(self, model_path: Path) -> None:
        self.model, self.spec, self.path = load_model(model_path)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(batch.astype(np.float32) / 255.0, training=False), dtype=np.float32)

    def load(self, path: Path) -> np.ndarray:
        spec = self.spec
        return load_for_model(path, spec.height, spec.width, spec.channels, spec.preprocessing)

    def read_arrays(self, images: np.ndarray, paths: Sequence[str]) -> list[Prediction]:
        """Predictions for uint8 model inputs, with the model's estimate that the whole string is
        right as confidence (see `decode_logits`)."""
        ids, probs, confidence = decode_logits(self.logits(images), self.spec)
        codec = self.spec.codec
        return [
            Prediction(path, codec.decode(row), float(c), [float(v) for v in p])
            for path, row, p, c in zip(paths, ids, probs, confidence, strict=True)
        ]

    def read_files(
        self,
        paths: Sequence[Path],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
        on_error: Callable[[ImageError], None] | None = None,
    ) -> list[Prediction]:
        """Predict files in batches; unreadable files go to `on_error` and are skipped."""
        results: list[Prediction] = []
        for start in range(0, len(paths), batch_size):
            arrays, names = [], []
            for path in paths[start : start + batch_size]:
                try:
                    arrays.append(self.load(path))
                    names.append(str(path))
                except ImageError as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
            if arrays:
                results.extend(self.read_arrays(np.stack(arrays), names))
            if progress:
                progress(len(paths[start : start + batch_size]))
        return results
