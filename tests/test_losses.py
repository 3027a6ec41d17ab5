"""Losses, decoding and the truthful metrics."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from captcha_cli.model.decoding import accuracy, decode_logits
from captcha_cli.model.losses import make_confidence_penalty, make_loss
from captcha_cli.spec import spec_for_arch

CHARS = "abc"


def _spec(loss: str):
    return spec_for_arch("small", charset=CHARS, max_length=4, loss=loss)


def _one_hot_logits(path: list[int], classes: int = 4, high: float = 20.0) -> np.ndarray:
    logits = np.full((len(path), classes), -high, np.float32)
    logits[np.arange(len(path)), path] = high
    return logits.reshape(1, -1)


def test_position_decoding_and_confidence() -> None:
    spec = _spec("softmax")
    logits = _one_hot_logits([1, 2, 0, 0])  # "ab" then padding
    ids, probs, confidence = decode_logits(logits, spec)
    assert ids.tolist() == [[1, 2, 0, 0]]
    assert spec.codec.decode(ids[0]) == "ab"
    assert confidence[0] == pytest.approx(np.prod(probs[0])) and confidence[0] > 0.99


def test_ctc_best_path_collapses_repeats_and_blanks() -> None:
    spec = _spec("ctc")
    steps = spec.output_steps
    assert steps == 13
    path = [0, 1, 1, 0, 1, 2, 2, 0, 3] + [0] * (steps - 9)  # a a _ a b b _ c -> "aabc"
    ids, probs, confidence = decode_logits(_one_hot_logits(path), spec)
    assert spec.codec.decode(ids[0]) == "aabc"
    assert probs.shape == (1, 4) and confidence[0] > 0.99


def test_ctc_loss_is_low_for_the_right_path_and_high_for_a_wrong_one() -> None:
    spec = _spec("ctc")
    loss = make_loss(spec)
    labels = tf.constant([[1, 2, 3, 0]])
    right = _one_hot_logits([1, 0, 2, 0, 3] + [0] * 8, high=8.0)
    wrong = _one_hot_logits([3, 0, 3, 0, 1] + [0] * 8, high=8.0)
    assert float(loss(labels, tf.constant(right))) < 0.1 < float(loss(labels, tf.constant(wrong)))


@pytest.mark.parametrize("name", ["softmax", "bce"])
def test_position_losses_prefer_the_truth(name: str) -> None:
    spec = _spec(name)
    loss = make_loss(spec)
    labels = tf.constant([[1, 2, 0, 0]])
    right = _one_hot_logits([1, 2, 0, 0], high=6.0)
    wrong = _one_hot_logits([2, 1, 3, 3], high=6.0)
    assert float(loss(labels, tf.constant(right))) < float(loss(labels, tf.constant(wrong)))


def test_accuracy_counts_whole_strings_and_real_characters() -> None:
    truth = np.array([[1, 2, 0, 0], [1, 2, 3, 0]])
    pred = np.array([[1, 2, 0, 0], [1, 2, 1, 0]])
    full, chars = accuracy(pred, truth)
    assert full == 0.5
    assert chars == pytest.approx(4 / 5)


def test_ctc_needs_enough_time_steps() -> None:
    from captcha_cli.errors import SpecError

    expected = "labels of 6 characters need at least 11 CTC time steps; a 200-pixel-wide input gives this model 7"
    with pytest.raises(SpecError, match=expected):
        spec_for_arch("resnet34", loss="ctc")


def _tf_reference(spec, ids: np.ndarray, logits: np.ndarray) -> float:
    """The losses as the tool wrote them with `tf.nn` before they moved to `keras.ops`."""
    length, classes, steps = spec.max_length, spec.num_classes, spec.output_steps
    if spec.loss == "softmax":
        per = tf.nn.sparse_softmax_cross_entropy_with_logits(ids, tf.reshape(logits, (-1, length, classes)))
    elif spec.loss == "bce":
        targets = tf.reshape(tf.one_hot(ids, classes), (-1, length * classes))
        per = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    else:
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        per = tf.nn.ctc_loss(
            ids, tf.reshape(logits, (-1, steps, classes)), lengths, tf.fill(tf.shape(lengths), steps),
            logits_time_major=False, blank_index=0,
        )  # fmt: skip
    return float(tf.reduce_mean(per))


@pytest.mark.parametrize("name", ["softmax", "bce", "ctc"])
def test_losses_equal_tensorflows_own(name: str) -> None:
    spec = _spec(name)
    rng = np.random.default_rng(3)
    ids = np.array([[1, 2, 3, 0], [3, 3, 0, 0], [2, 1, 1, 3]], dtype=np.int32)
    logits = rng.normal(0, 2, (3, spec.output_steps * spec.num_classes)).astype(np.float32)
    got = float(make_loss(spec)(tf.constant(ids), tf.constant(logits)))
    assert got == pytest.approx(_tf_reference(spec, tf.constant(ids), tf.constant(logits)), rel=1e-5)
    assert got > 0.5  # random logits: far from a fitted model's loss


@pytest.mark.parametrize(
    ("name", "uniform"),
    [("ctc", -13 * np.log(4)), ("softmax", -np.log(4)), ("bce", -np.log(2))],  # 13 CTC steps, 4 classes
)
def test_confidence_penalty_is_the_weighted_negative_entropy(name: str, uniform: float) -> None:
    spec = _spec(name)
    penalty = make_confidence_penalty(spec, 0.5)
    flat = np.zeros((2, spec.output_steps * spec.num_classes), np.float32)  # every output at even odds
    assert float(penalty(tf.constant(flat))) == pytest.approx(0.5 * uniform, rel=1e-5)
    sure = _one_hot_logits([1, 0, 2, 0] + [0] * (spec.output_steps - 4))
    assert -1e-6 < float(penalty(tf.constant(sure))) <= 0  # no doubt, no penalty
    some = np.random.default_rng(5).normal(0, 2, flat.shape).astype(np.float32)
    slots = tf.reshape(some, (2, spec.output_steps, spec.num_classes))
    per_slot = tf.reduce_sum(tf.nn.softmax(slots) * tf.nn.log_softmax(slots), axis=-1)
    p = tf.sigmoid(some)
    expected = {
        "ctc": tf.reduce_mean(tf.reduce_sum(per_slot, axis=1)),
        "softmax": tf.reduce_mean(per_slot),
        "bce": tf.reduce_mean(p * tf.math.log(p) + (1 - p) * tf.math.log(1 - p)),
    }[name]
    assert float(penalty(tf.constant(some))) == pytest.approx(0.5 * float(expected), rel=1e-5)


def test_ctc_confidence_is_the_texts_probability_over_every_alignment() -> None:
    spec = _spec("ctc")
    steps = spec.output_steps
    # "a" over the first two steps: a a, a _, _ a are three alignments of the same text
    logits = np.full((steps, 4), -20.0, np.float32)
    logits[:, 0] = 20.0
    logits[:2, 0], logits[:2, 1] = 0.0, 0.01  # a or blank at nearly even odds
    ids, _, confidence = decode_logits(logits.reshape(1, -1), spec)
    assert spec.codec.decode(ids[0]) == "a"
    blank = 1 / (1 + np.exp(0.01))
    assert confidence[0] == pytest.approx(1 - blank**2, abs=1e-6)  # every path but blank-blank; the best alone: 0.25
