"""Losses over the 6 x 63 outputs, and the metrics that tell the truth (full-string accuracy)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from captcha_cli.model import position_probabilities
from captcha_cli.spec import ModelSpec


def make_loss(spec: ModelSpec):
    """The training loss for a spec: per-position softmax cross-entropy, the original's sigmoid
    binary cross-entropy over all `max_length x num_classes` outputs, or CTC over time steps
    (the padding class is the CTC blank)."""
    length, classes = spec.max_length, spec.num_classes

    def softmax_loss(ids: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.reshape(tf.cast(logits, tf.float32), (-1, length, classes))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits))

    def bce_loss(ids: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        targets = tf.reshape(tf.one_hot(ids, classes), (-1, length * classes))
        logits = tf.cast(logits, tf.float32)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))

    steps = spec.output_steps

    def ctc_loss(ids: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.reshape(tf.cast(logits, tf.float32), (-1, steps, classes))
        label_length = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        logit_length = tf.fill(tf.shape(label_length), steps)
        per_example = tf.nn.ctc_loss(
            labels=ids,
            logits=logits,
            label_length=label_length,
            logit_length=logit_length,
            logits_time_major=False,
            blank_index=0,
        )
        return tf.reduce_mean(per_example)

    return {"softmax": softmax_loss, "bce": bce_loss, "ctc": ctc_loss}[spec.loss]


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
