"""The `calibrate` workflow: fit (again) the confidence map of a trained model, on the validation
split its run drew or on a labelled folder, and store it in the model's spec.

`captcha train` already fits the map when it saves a model; this is for models saved before that
(they have none) and for fitting on other labelled captchas of the same site.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from captcha_cli.data.datasets import Sample, audit_folder
from captcha_cli.data.imagecache import is_cache
from captcha_cli.data.labelled import load_labelled
from captcha_cli.errors import CaptchaError
from captcha_cli.inference.readers import Reader
from captcha_cli.model.calibration import apply_calibration, expected_calibration_error, fit_calibration
from captcha_cli.model.decoding import decode_logits
from captcha_cli.spec import ModelSpec, save_spec
from captcha_cli.training.runs import read_config


def validation_samples(run_dir: Path, spec: ModelSpec) -> list[Sample]:
    """The validation split of a run, drawn again from its config.json exactly as training drew it."""
    config = read_config(run_dir)
    data, training = config["data"], config["config"]
    source = Path(data["data"])
    if is_cache(source):
        raise CaptchaError(f"{run_dir}: trained on a cache ({source})", hint="pass --data with labelled images")
    labelled = load_labelled(
        source,
        spec.charset,
        spec.max_length,
        data.get("label_pattern"),
        data.get("ignore_case", False),
        True,  # files training left out are left out again
        training["val_split"],
        training["seed"],
        Path(data["val"]) if data.get("val") else None,
    )
    return labelled.val


def raw_answers(
    reader: Reader, samples: Sequence[Sample], progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample's logits, raw (uncalibrated) confidence and whether the model reads it right."""
    raw_spec = dataclasses.replace(reader.spec, calibration=())
    logits, confidences, right = [], [], []
    for start in range(0, len(samples), 128):
        chunk = samples[start : start + 128]
        logits.append(reader.logits(np.stack([reader.load(s.path) for s in chunk])))
        ids, _, raw = decode_logits(logits[-1], raw_spec)
        confidences.append(raw)
        right.extend(raw_spec.codec.decode(row) == s.label for row, s in zip(ids, chunk, strict=True))
        if progress:
            progress(len(chunk))
    return np.concatenate(logits), np.concatenate(confidences), np.array(right)


def calibrate(model: Path, data: Path | None, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Fit the map for `best.keras` and `last.keras` of a run folder (or for one `.keras` file) and
    rewrite their specs; returns what was fitted on how many images, with the ECE before and after."""
    names = ("best.keras", "last.keras")
    files = [model / name for name in names if (model / name).is_file()] if model.is_dir() else [model]
    if not files:
        raise CaptchaError(f"{model}: no best.keras or last.keras in this folder")
    results = []
    for path in files:
        reader = Reader(path)
        if data is not None:
            samples = audit_folder(data, reader.spec.charset, reader.spec.max_length, None, False).samples
        else:
            run_dir = path.parent
            samples = validation_samples(run_dir, reader.spec)
        if not samples:
            raise CaptchaError(f"{data or path.parent}: no labelled images to calibrate on")
        _, raw, right = raw_answers(reader, samples, progress)
        mapping = fit_calibration(raw, right)
        save_spec(dataclasses.replace(reader.spec, calibration=mapping), path)
        results.append(
            {
                "model": str(path),
                "images": len(samples),
                "full_string_accuracy": float(right.mean()),
                "calibration": list(mapping),
                "ece_before": expected_calibration_error(apply_calibration(raw, reader.spec.calibration), right),
                "ece_after": expected_calibration_error(apply_calibration(raw, mapping), right),
            }
        )
    return results
