"""From output logits to text, and the metrics that tell the truth (full-string accuracy).

NumPy only: prediction with an exported model runs without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from captcha_cli.spec import ModelSpec


def position_probabilities(logits: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Per-slot class probabilities (batch, output_steps, num_classes) from the output logits.

    Softmax and CTC models normalize each slot (position or time step) with a softmax; BCE
    models (the original's sigmoid outputs) have their sigmoids normalized to sum to one.
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, spec.output_steps, spec.num_classes)
    if spec.loss in ("softmax", "ctc"):
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    sig = 1.0 / (1.0 + np.exp(-logits))
    return sig / sig.sum(axis=-1, keepdims=True)


def accuracy(pred_ids: np.ndarray, true_ids: np.ndarray) -> tuple[float, float]:
    """(full-string accuracy, per-character accuracy over the true labels' characters)."""
    full = float(np.mean(np.all(pred_ids == true_ids, axis=1)))
    real = true_ids != 0
    chars = float(np.sum((pred_ids == true_ids) & real) / max(np.sum(real), 1))
    return full, chars


def decode_logits(logits: np.ndarray, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class ids per label position (padded with 0), the probability of each read character,
    and the confidence of each whole string.

    Position models take the arg-max per position; confidence is the product of the chosen
    probabilities over all positions (padding included). CTC models take the best path
    (arg-max per time step, repeats collapsed, blanks dropped); confidence is that path's
    probability.
    """
    probs = position_probabilities(logits, spec)
    best = probs.argmax(axis=-1)
    chosen = np.take_along_axis(probs, best[..., None], axis=-1)[..., 0]
    if spec.loss != "ctc":
        return best, chosen, np.prod(chosen, axis=-1)
    ids = np.zeros((len(best), spec.max_length), dtype=np.int64)
    char_probs = np.ones((len(best), spec.max_length))
    for row, (path, path_probs) in enumerate(zip(best, chosen, strict=True)):
        keep = [t for t in range(len(path)) if path[t] != 0 and (t == 0 or path[t] != path[t - 1])]
        keep = keep[: spec.max_length]
        ids[row, : len(keep)] = path[keep]
        char_probs[row, : len(keep)] = path_probs[keep]
    return ids, char_probs, np.prod(chosen, axis=-1)
