"""How far a trained model's confidence can be trusted, on images never used for training or for
choosing a checkpoint: the expected calibration error (15 bins) and what answering only at
confidence >= 0.9 gives (accuracy, share answered), for three confidences side by side:

- raw: the best path's probability, as models before the calibration had it;
- temperature: raw with the logits divided by one number fitted on the validation split;
- calibrated: the map the model carries (captcha_cli.model.calibration, fitted on the same split by
  `captcha train` or `captcha calibrate`).

The validation split is drawn again from the run's config.json as training drew it
(`captcha_cli.inference.calibrate_job.validation_samples`, what `captcha calibrate` uses).

Usage: python benchmarks/calibration.py RUN TEST [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from captcha_cli import runtime
from captcha_cli.data.datasets import audit_folder
from captcha_cli.model.calibration import apply_calibration, expected_calibration_error, fit_calibration
from captcha_cli.model.decoding import position_probabilities

TEMPERATURES = np.exp(np.linspace(np.log(0.002), np.log(5.0), 401))


def tempered(logits: np.ndarray, spec, temperature: float) -> np.ndarray:
    """The best path's probability with the logits divided by `temperature` (the path itself is unchanged)."""
    probs = position_probabilities(logits / temperature, spec)
    return np.prod(probs.max(axis=-1), axis=-1)


def fit_temperature(logits: np.ndarray, correct: np.ndarray, spec) -> float:
    """The temperature that best predicts right and wrong answers (log-likelihood over a grid)."""

    def loss(t: float) -> float:
        p = np.clip(tempered(logits, spec, t), 1e-12, 1 - 1e-12)
        return float(-np.mean(np.where(correct, np.log(p), np.log(1 - p))))

    return float(min(TEMPERATURES, key=loss))


def summary(confidence: np.ndarray, correct: np.ndarray) -> dict[str, float | None]:
    sure = confidence >= 0.9
    return {
        "ece": expected_calibration_error(confidence, correct),
        "answered_at_0.9": float(sure.mean()),
        "accuracy_at_0.9": float(correct[sure].mean()) if sure.any() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runtime.import_tensorflow()
    from captcha_cli.inference.calibrate_job import raw_answers, validation_samples
    from captcha_cli.inference.readers import Reader

    reader = Reader(args.run / "best.keras")
    spec = reader.spec
    validation = validation_samples(args.run, spec)
    val_logits, val_raw, val_correct = raw_answers(reader, validation)
    platt = fit_calibration(val_raw, val_correct)
    temperature = fit_temperature(val_logits, val_correct, spec)
    test = audit_folder(args.test, spec.charset, spec.max_length, None, False).samples
    logits, raw, correct = raw_answers(reader, test)
    result = {
        "run": str(args.run),
        "test": str(args.test),
        "images": len(test),
        "validation_images": len(validation),
        "full_string_accuracy": float(correct.mean()),
        "stored_map": list(spec.calibration),
        "refitted_map": list(platt),
        "temperature": temperature,
        "raw": summary(raw, correct),
        "temperature_scaled": summary(tempered(logits, spec, temperature), correct),
        "calibrated": summary(apply_calibration(raw, spec.calibration), correct),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.run} on {args.test}: {len(test)} images, {correct.mean():.2%} right; temperature {temperature:.3f}")
    print("| confidence | ECE | answered at >= 0.9 | right when answered |")
    print("|---|---:|---:|---:|")
    for name in ("raw", "temperature_scaled", "calibrated"):
        row = result[name]
        right = "-" if row["accuracy_at_0.9"] is None else f"{row['accuracy_at_0.9']:.2%}"
        print(f"| {name} | {row['ece']:.3f} | {row['answered_at_0.9']:.1%} | {right} |")


if __name__ == "__main__":
    sys.exit(main())
