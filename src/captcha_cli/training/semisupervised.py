"""`--unlabelled DIR`: learning from captchas without labels, as FixMatch does (Sohn et al., 2020),
with a Mean Teacher's averaged weights as the teacher (Tarvainen and Valpola, 2017) when `--ema` is
on (the `small` preset), the model itself otherwise.

Part of every batch (`--unlabelled-share`) is unlabelled captchas. The teacher reads each one as it
is (the weak view); where the probability of that reading reaches `--unlabelled-threshold`, the
student is trained to read it from an augmented copy (the strong view), with the same loss and
weight as a labelled captcha. Readings below the threshold add nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf
from keras import ops

from captcha_cli.spec import ModelSpec
from captcha_cli.training.batches import augment_batch, next_indices, sample_order

ORDER_SALT = 15_485_863  # keeps the unlabelled images' order apart from the labelled ones'

PseudoLabeller = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def unlabelled_count(batch_size: int, share: float) -> int:
    """How many of a batch's places go to unlabelled captchas: at least one, and one left for the labels."""
    if share <= 0:
        return 0
    return min(batch_size - 1, max(1, round(batch_size * share)))


def unlabelled_stream(images: np.ndarray, count: int, seed: int, start_step: int) -> Iterator[tuple[np.ndarray, ...]]:
    """(weak, strong) views of `count` unlabelled images per step, in a seeded order that resumes
    at `start_step`: the images as they are, and augmented copies of them."""
    order = sample_order(len(images), seed + ORDER_SALT, start_step * count)
    step = start_step
    while True:
        index = next_indices(order, count)
        weak = np.asarray(images[index])
        yield weak, augment_batch(weak, np.random.default_rng([seed, ORDER_SALT, step]))
        step += 1


def joined_stream(
    labelled: Iterator[tuple[np.ndarray, np.ndarray]], unlabelled: Iterator[tuple[np.ndarray, ...]]
) -> Iterator[tuple[np.ndarray, ...]]:
    """Batches of (labelled images, their ids, weak views, strong views)."""
    for (x, y), (weak, strong) in zip(labelled, unlabelled, strict=False):
        yield x, y, weak, strong


def make_pseudo_labeller(spec: ModelSpec) -> PseudoLabeller:
    """From the teacher's logits to (label ids, the reading's probability) per image.

    CTC: the best path collapsed (repeats merged, blanks dropped) and left-aligned into label
    slots; its probability is summed over every alignment (the CTC forward sum, as `predict`'s
    raw confidence). A reading empty or longer than `max_length` gets probability 0. Position
    models: each position's likeliest class, and the product of their probabilities.
    """
    steps, classes, length = spec.output_steps, spec.num_classes, spec.max_length
    if spec.loss == "bce":
        raise ValueError("--unlabelled needs a softmax or ctc model; the original's BCE outputs are not one reading")

    def slots(logits: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.cast(logits, tf.float32), (-1, steps, classes))

    def ctc_reading(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        scores = slots(logits)
        best = tf.argmax(scores, axis=-1, output_type=tf.int32)
        previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        kept = tf.logical_and(best != 0, best != previous)
        count = tf.reduce_sum(tf.cast(kept, tf.int32), axis=1)
        first_kept = tf.argsort(tf.cast(tf.logical_not(kept), tf.int32), axis=1, stable=True)
        ids = tf.gather(best * tf.cast(kept, tf.int32), first_kept, batch_dims=1)[:, :length]
        label_length = tf.minimum(count, length)
        nll = ops.ctc_loss(ids, scores, label_length, tf.fill(tf.shape(count), steps), mask_index=0)
        usable = tf.logical_and(count >= 1, count <= length)
        return ids, tf.where(usable, tf.exp(-tf.cast(nll, tf.float32)), 0.0)

    def position_reading(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        log_p = tf.nn.log_softmax(slots(logits), axis=-1)
        ids = tf.argmax(log_p, axis=-1, output_type=tf.int32)
        return ids, tf.exp(tf.reduce_sum(tf.reduce_max(log_p, axis=-1), axis=1))

    return ctc_reading if spec.loss == "ctc" else position_reading
