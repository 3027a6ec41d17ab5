"""The benchmarks' reading of a held-out folder: every labelled captcha in it, read by a model the
way `captcha evaluate` reads it. Import after `runtime.import_tensorflow()`."""

from __future__ import annotations

from pathlib import Path

from captcha_cli.data.datasets import Sample
from captcha_cli.data.labelled import load_labelled
from captcha_cli.inference.readers import Prediction, Reader
from captcha_cli.model.modelio import resolve_model_path


def read_heldout(model: Path, heldout: Path) -> tuple[list[Sample], list[Prediction]]:
    """The folder's captchas (labels in the model's charset and length) and the model's readings."""
    reader = Reader(resolve_model_path(model))
    folder = load_labelled(heldout, reader.spec.charset, reader.spec.max_length, None, False, False, 0.5, 0)
    samples = folder.train + folder.val
    return samples, reader.read_files([s.path for s in samples])
