"""Confidence a caller can act on: a monotone map from a model's raw confidence to the chance that
the answer is right, fitted on the validation split, and the numbers that check it (ECE).

NumPy only, like decoding: exported models use the map without TensorFlow.

The map is Platt scaling on the log of the raw confidence, `sigmoid(a * ln(p) + b)`: two numbers,
order-preserving (a >= 0), stored in the model's spec. The confidence penalty pushes every time
step's best probability down, so the product over the steps says far less than the answer's odds;
`benchmarks/calibration.py` measures this map against a temperature on the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ECE_BINS = 15
_TINY = 1e-300  # raw confidences are clipped here before the log (float64 reaches about 1e-308)


def _features(raw: np.ndarray) -> np.ndarray:
    """ln(raw): a 25-step CTC path under the confidence penalty can have a raw confidence of 1e-40
    and still be the likeliest answer, so nothing above float64's floor is cut off."""
    return np.log(np.clip(np.asarray(raw, dtype=np.float64), _TINY, 1.0))


def apply_calibration(raw: np.ndarray, calibration: Sequence[float]) -> np.ndarray:
    """Calibrated confidences for raw ones; an empty calibration (older models) keeps them raw."""
    raw = np.asarray(raw, dtype=np.float64)
    if not calibration:
        return raw
    slope, intercept = calibration
    return 1.0 / (1.0 + np.exp(-(slope * _features(raw) + intercept)))


def fit_calibration(raw: np.ndarray, correct: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(a, b) of `sigmoid(a * ln(raw) + b)` by maximum likelihood (Newton's method with a
    backtracking line search, on the standardized feature).

    The targets are Platt's smoothed ones, (N+ + 1) / (N+ + 2) for right answers and 1 / (N- + 2)
    for wrong ones, so a validation split read perfectly (or not at all) still gives finite
    numbers and never promises certainty. The slope is kept at zero or above: the map never
    reverses the model's order (a split where it would is answered with its accuracy alone).

    A split read perfectly says nothing of where answers go wrong, and alone it fits a flat map
    that gives every answer the same confidence, a captcha of another kind too. So one wrong
    answer is assumed at its least confident one (Platt's smoothing already assumes one
    somewhere): measured on `wp-rsc` (benchmarks/RESULTS.md, "Confidence and calibration"), its
    test answers keep 0.999 while captchas of other styles fall from 0.999 to 0.11-0.30.
    """
    x = _features(raw)
    correct = np.asarray(correct, dtype=bool)
    if len(x) == 0:
        raise ValueError("cannot calibrate on no answers")
    orderable = x.std() >= 1e-12  # else every answer is equally confident: nothing to order them by
    if correct.all() and orderable:
        x, correct = np.append(x, x.min()), np.append(correct, False)
    positives, negatives = int(correct.sum()), int((~correct).sum())
    target = np.where(correct, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    rate = float(np.clip(target.mean(), 1e-6, 1 - 1e-6))
    base = (0.0, float(np.log(rate / (1 - rate))))
    if not orderable:
        return base
    center, scale = float(x.mean()), float(x.std())
    design = np.stack([(x - center) / scale, np.ones_like(x)], axis=1)

    def loss(params: np.ndarray) -> float:
        z = design @ params
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    params = np.array(base)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ params)))
        gradient = design.T @ (p - target)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        size, before = 1.0, loss(params)
        while size > 1e-8 and loss(params - size * step) > before - 1e-4 * size * float(gradient @ step):
            size /= 2
        params = params - size * step
        if np.max(np.abs(size * step)) < 1e-10:
            break
    slope, intercept = float(params[0]) / scale, float(params[1]) - float(params[0]) * center / scale
    return base if slope < 0 else (slope, intercept)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Equal-width confidence bins: each one's range, answers, mean confidence and accuracy."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        rows.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "answers": count,
                "confidence": float(confidence[inside].mean()) if count else None,
                "accuracy": float(correct[inside].mean()) if count else None,
            }
        )
    return rows


def calibration_summary(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> dict:
    """The reliability bins and the ECE over them: the answers' share-weighted gap between mean
    confidence and accuracy."""
    rows = reliability(confidence, correct, bins)
    total = len(confidence)
    ece = sum(r["answers"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows if r["answers"])
    return {"ece": float(ece), "bins": rows}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over equal-width bins (0 for no answers)."""
    return calibration_summary(confidence, correct, bins)["ece"]
