"""The training losses over the model's outputs: per-position softmax, the original's BCE, or CTC,
and the confidence penalty that `--confidence-penalty` adds to them.

Written in `keras.ops`, so they run on any Keras 3 backend (on TensorFlow they are the same ops
as `tf.nn`'s: `sparse_softmax_cross_entropy_with_logits`, `sigmoid_cross_entropy_with_logits`,
`ctc_loss`).
"""

from __future__ import annotations

from keras import ops

from captcha_cli.spec import ModelSpec


def _slots(logits, spec: ModelSpec):
    """The flat logits as float32 (batch, output slots, classes): label positions, or CTC's time steps."""
    return ops.reshape(ops.cast(logits, "float32"), (-1, spec.output_steps, spec.num_classes))


def make_loss(spec: ModelSpec):
    """The training loss for a spec: per-position softmax cross-entropy, the original's sigmoid
    binary cross-entropy over all `max_length x num_classes` outputs, or CTC over time steps
    (the padding class is the CTC blank), averaged over the batch."""
    per_sample = make_sample_loss(spec)
    return lambda ids, logits: ops.mean(per_sample(ids, logits))


def make_sample_loss(spec: ModelSpec):
    """`make_loss`'s loss for each image of the batch (shape: batch)."""
    length, classes = spec.max_length, spec.num_classes

    def softmax_loss(ids, logits):
        return ops.mean(ops.sparse_categorical_crossentropy(ids, _slots(logits, spec), from_logits=True), axis=-1)

    def bce_loss(ids, logits):
        targets = ops.reshape(ops.one_hot(ids, classes), (-1, length * classes))
        logits = ops.cast(logits, "float32")
        return ops.mean(ops.binary_crossentropy(targets, logits, from_logits=True), axis=-1)

    steps = spec.output_steps

    def ctc_loss(ids, logits):
        label_length = ops.sum(ops.cast(ops.not_equal(ids, 0), "int32"), axis=1)
        logit_length = ops.ones_like(label_length) * steps
        return ops.ctc_loss(ids, _slots(logits, spec), label_length, logit_length, mask_index=0)

    return {"softmax": softmax_loss, "bce": bce_loss, "ctc": ctc_loss}[spec.loss]


def make_confidence_penalty(spec: ModelSpec, weight: float):
    """`weight` x the negative entropy of the model's output distributions, reduced over them as
    the spec's loss reduces its terms (CTC: summed over time steps; softmax: averaged over
    positions; BCE: each sigmoid's binary entropy, averaged over outputs), then averaged over the
    batch. Added to the training loss it penalizes confident outputs (Pereyra et al., 2017); under
    CTC it also shortens the all-blank plateau (benchmarks/RESULTS.md, accuracy on built-in styles)."""

    def categorical(logits):
        log_p = ops.log_softmax(_slots(logits, spec), axis=-1)
        return ops.sum(ops.exp(log_p) * log_p, axis=-1)

    def ctc_penalty(logits):
        return weight * ops.mean(ops.sum(categorical(logits), axis=-1))

    def softmax_penalty(logits):
        return weight * ops.mean(categorical(logits))

    def bce_penalty(logits):
        logits = ops.cast(logits, "float32")
        log_p, log_q = ops.log_sigmoid(logits), ops.log_sigmoid(-logits)
        return weight * ops.mean(ops.exp(log_p) * log_p + ops.exp(log_q) * log_q)

    return {"softmax": softmax_penalty, "bce": bce_penalty, "ctc": ctc_penalty}[spec.loss]
