"""Losses over the 6 x 63 outputs, and the metrics that tell the truth (full-string accuracy)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from captcha_cli.model import position_probabilities
from captcha_cli.spec import ModelSpec


def make_loss(spec: ModelSpec):
    """The training loss for a spec: per-position softmax cross-entropy, or the original's
    sigmoid binary cross-entropy over all `max_length x num_classes` outputs."""
    length, classes = spec.max_length, spec.num_classes

    def softmax_loss(ids: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.reshape(tf.cast(logits, tf.float32), (-1, length, classes))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits))

    def bce_loss(ids: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        targets = tf.reshape(tf.one_hot(ids, classes), (-1, length * classes))
        logits = tf.cast(logits, tf.float32)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))

    return softmax_loss if spec.loss == "softmax" else bce_loss


def numpy_loss(logits: np.ndarray, ids: np.ndarray, spec: ModelSpec) -> float:
    """The same loss as `make_loss`, in NumPy, for validation over a whole set."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, spec.max_length, spec.num_classes)
    if spec.loss == "softmax":
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return float(-np.take_along_axis(log_probs, ids[..., None], axis=-1).mean())
    targets = np.eye(spec.num_classes)[ids]
    bce = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return float(bce.mean())


def accuracy(pred_ids: np.ndarray, true_ids: np.ndarray) -> tuple[float, float]:
    """(full-string accuracy, per-character accuracy over the true labels' characters)."""
    full = float(np.mean(np.all(pred_ids == true_ids, axis=1)))
    real = true_ids != 0
    chars = float(np.sum((pred_ids == true_ids) & real) / max(np.sum(real), 1))
    return full, chars


def decode_logits(logits: np.ndarray, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-position arg-max ids and the per-position probability of each chosen class."""
    probs = position_probabilities(logits, spec)
    ids = probs.argmax(axis=-1)
    return ids, np.take_along_axis(probs, ids[..., None], axis=-1)[..., 0]
