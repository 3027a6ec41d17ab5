"""The training losses over the model's outputs: per-position softmax, the original's BCE, or CTC."""

from __future__ import annotations

import tensorflow as tf

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
