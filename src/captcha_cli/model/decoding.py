"""From output logits to text, and the metrics that tell the truth (full-string accuracy).

NumPy only: prediction with an exported model runs without TensorFlow.

A `Constraint` (`--charset`, `--length`, `--ignore-case`) is applied before decoding, never as a
filter afterwards: classes outside the charset are removed from every slot's distribution, case
partners are merged into one class, and a length range makes the decoder search the best answer
of an allowed length (CTC: the most probable alignment path whose collapsed text has that length,
by dynamic programming over time steps; position models: the best length and, per position, the
best allowed class). The confidence of a constrained answer is its probability under the
constraint: the answer's probability divided by the probability of all allowed answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from captcha_cli.charset import parse_charset
from captcha_cli.errors import CaptchaError
from captcha_cli.model.calibration import apply_calibration
from captcha_cli.spec import ModelSpec

_LENGTH = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Constraint:
    """What an answer may be: its characters, its length range and whether case counts."""

    charset: str | None = None  # the characters an answer may use (expanded); None: all of the model's
    lengths: tuple[int, int] | None = None  # shortest and longest answer; None: any
    ignore_case: bool = False  # merge upper and lower case; answers come in lower case

    @classmethod
    def parse(cls, charset: str | None = None, length: str | None = None, ignore_case: bool = False) -> Constraint:
        """From the options' text: `--charset 0-9`, `--length 4` or `4-6`, `--ignore-case`."""
        lengths = None
        if length is not None:
            match = _LENGTH.match(str(length))
            low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
            if not match or not 1 <= low <= high:
                raise CaptchaError(f"--length takes N or N-M with 1 <= N <= M. Received: {length}")
            lengths = (low, high)
        return cls(parse_charset(charset) if charset is not None else None, lengths, ignore_case)

    @property
    def active(self) -> bool:
        return self.charset is not None or self.lengths is not None or self.ignore_case

    def allowed_classes(self, spec: ModelSpec) -> np.ndarray:
        """A mask over the model's classes (padding or blank always allowed); refuses a constraint
        no answer of this model could meet."""
        classes = spec.codec.classes
        allowed = np.ones(len(classes), dtype=bool)
        if self.charset is not None:
            wanted = set(self.charset.lower() if self.ignore_case else self.charset)
            allowed[1:] = [(c.lower() if self.ignore_case else c) in wanted for c in classes[1:]]
            if not allowed[1:].any():
                raise CaptchaError(
                    f"--charset {self.charset!r} shares no character with this model's charset {spec.charset!r}"
                )
        if self.lengths is not None and self.lengths[0] > spec.max_length:
            raise CaptchaError(
                f"--length {self.lengths[0]} is longer than this model reads (at most {spec.max_length} characters)"
            )
        return allowed


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


def decode_logits(
    logits: np.ndarray, spec: ModelSpec, constraint: Constraint | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class ids per label position (padded with 0), the probability of each read character,
    and the calibrated confidence of each whole string.

    Position models take the arg-max per position; the raw confidence is the product of the
    chosen probabilities over all positions (padding included). CTC models take the best path
    (arg-max per time step, repeats collapsed, blanks dropped); the raw confidence is the text's
    probability summed over every alignment (the forward algorithm), not the one path's: under the
    confidence penalty a path's probability says nothing of whether the text is right (on
    `seedgen`, wrong readings had the likelier best paths), the text's does. The spec's
    calibration maps it to the chance that the string is right. With a
    constraint, see the module's docstring; ids of merged case partners are the class that
    stands for both (the answer's text is then folded to lower case by the caller).
    """
    probs = position_probabilities(logits, spec)
    constraint = constraint or Constraint()
    if constraint.active:
        probs = _constrained(probs, spec, constraint)
    if spec.loss == "ctc" and constraint.lengths:
        ids, char_probs, within = _ctc_of_length(probs, spec.max_length, *constraint.lengths)
        raw = np.minimum(np.exp(ctc_text_log_probability(probs, ids)) / np.maximum(within, 1e-300), 1.0)
    elif spec.loss == "ctc":
        ids, char_probs = _ctc_best_path(probs, spec.max_length)
        raw = np.exp(ctc_text_log_probability(probs, ids))
    elif constraint.lengths:
        ids, char_probs, raw = _positions_of_length(probs, *constraint.lengths)
    else:
        ids = probs.argmax(axis=-1)
        char_probs = np.take_along_axis(probs, ids[..., None], axis=-1)[..., 0]
        raw = np.prod(char_probs, axis=-1)
    return ids, char_probs, apply_calibration(raw, spec.calibration)


def _constrained(probs: np.ndarray, spec: ModelSpec, constraint: Constraint) -> np.ndarray:
    """Slot distributions with case partners merged (into the lower-case class where the model has
    one) and the classes outside the charset removed, renormalized over what is left."""
    probs = probs.copy()
    classes = spec.codec.classes
    if constraint.ignore_case:
        index = {c: i for i, c in enumerate(classes)}
        for i, c in enumerate(classes[1:], 1):
            keep = index.get(c.lower(), i) if c != c.lower() else i
            if keep != i:
                probs[..., keep] += probs[..., i]
                probs[..., i] = 0.0
    probs[..., ~constraint.allowed_classes(spec)] = 0.0
    return probs / np.maximum(probs.sum(axis=-1, keepdims=True), 1e-300)


def _collapse(path: np.ndarray, path_probs: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The text ids of a CTC path (repeats merged, blanks dropped) and each character's probability."""
    keep = [t for t in range(len(path)) if path[t] != 0 and (t == 0 or path[t] != path[t - 1])][:max_length]
    ids, char_probs = np.zeros(max_length, dtype=np.int64), np.ones(max_length)
    ids[: len(keep)] = path[keep]
    char_probs[: len(keep)] = path_probs[keep]
    return ids, char_probs


def ctc_text_log_probability(probs: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """ln P(text) under CTC for each image, summed over every alignment (the forward algorithm):
    `probs` (batch, steps, classes) with the blank at 0, `ids` (batch, max_length) the texts'
    class ids from the left, padded with 0."""
    batch, steps, _ = probs.shape
    lengths = (ids != 0).sum(axis=1)
    states = 2 * ids.shape[1] + 1
    extended = np.zeros((batch, states), dtype=np.int64)
    extended[:, 1::2] = ids
    valid = np.arange(states)[None, :] < (2 * lengths + 1)[:, None]
    skip = np.zeros((batch, states), dtype=bool)
    skip[:, 2:] = (extended[:, 2:] != 0) & (extended[:, 2:] != extended[:, :-2])
    with np.errstate(divide="ignore"):
        emit = np.log(np.take_along_axis(probs, np.repeat(extended[:, None, :], steps, axis=1), axis=2))
    alpha = np.full((batch, states), -np.inf)
    alpha[:, 0] = emit[:, 0, 0]
    alpha[:, 1] = np.where(lengths > 0, emit[:, 0, 1], -np.inf)
    none = np.full((batch, 2), -np.inf)
    for t in range(1, steps):
        one_back = np.concatenate([none[:, :1], alpha[:, :-1]], axis=1)
        two_back = np.where(skip, np.concatenate([none, alpha[:, :-2]], axis=1), -np.inf)
        alpha = np.where(valid, np.logaddexp(np.logaddexp(alpha, one_back), two_back) + emit[:, t], -np.inf)
    rows = np.arange(batch)
    ends_blank = alpha[rows, 2 * lengths]
    ends_char = np.where(lengths > 0, alpha[rows, np.maximum(2 * lengths - 1, 0)], -np.inf)
    return np.logaddexp(ends_blank, ends_char)


def _ctc_best_path(probs: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    best = probs.argmax(axis=-1)
    chosen = np.take_along_axis(probs, best[..., None], axis=-1)[..., 0]
    rows = [_collapse(path, path_probs, max_length) for path, path_probs in zip(best, chosen, strict=True)]
    return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])


def _ctc_of_length(
    probs: np.ndarray, max_length: int, low: int, high: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The text of the most probable path with `low`..`high` characters, for each image, and the
    probability that the text has such a length (to condition the confidence on)."""
    high = min(high, max_length)
    ids, char_probs, within = [], [], []
    for row in probs:
        path, _ = _best_path_of_length(row, low, high)
        text_ids, text_probs = _collapse(path, row[np.arange(len(path)), path], max_length)
        ids.append(text_ids)
        char_probs.append(text_probs)
        within.append(_probability_of_lengths(row, low, high))
    return np.stack(ids), np.stack(char_probs), np.array(within)


def _best_path_of_length(probs: np.ndarray, low: int, high: int) -> tuple[np.ndarray, float]:
    """Viterbi over states (characters emitted so far, class at the previous step): a step that
    repeats the previous class or is blank emits nothing, any other emits one character."""
    steps, classes = probs.shape
    with np.errstate(divide="ignore"):
        logp = np.log(probs)
    score = np.full((high + 1, classes), -np.inf)
    score[0, 0] = logp[0, 0]
    if high >= 1:
        score[1, 1:] = logp[0, 1:]
    back_n = np.zeros((steps, high + 1, classes), dtype=np.int64)
    back_k = np.zeros((steps, high + 1, classes), dtype=np.int64)
    counts = np.arange(high + 1)
    for t in range(1, steps):
        new = np.full_like(score, -np.inf)
        # blank: from any previous class, same count
        best_k = score.argmax(axis=1)
        new[:, 0] = score[counts, best_k] + logp[t, 0]
        back_n[t, :, 0], back_k[t, :, 0] = counts, best_k
        # a character c: stay (previous class c, same count) or emit (previous class not c, one fewer)
        order = np.argsort(score, axis=1)
        first, second = order[:, -1], order[:, -2]
        from_k = np.where(first[:, None] == np.arange(classes)[None, :], second[:, None], first[:, None])
        emit = np.full((high + 1, classes), -np.inf)
        emit[1:] = np.take_along_axis(score[:-1], from_k[:-1], axis=1)
        stay = score
        take_emit = emit > stay
        new[:, 1:] = np.where(take_emit, emit, stay)[:, 1:] + logp[t, 1:]
        back_n[t, :, 1:] = np.where(take_emit, counts[:, None] - 1, counts[:, None])[:, 1:]
        shifted = np.zeros_like(from_k)
        shifted[1:] = from_k[:-1]
        back_k[t, :, 1:] = np.where(take_emit, shifted, np.arange(classes)[None, :])[:, 1:]
        score = new
    window = score[low : high + 1]
    n, k = np.unravel_index(np.argmax(window), window.shape)
    n += low
    best = float(score[n, k])
    path = np.zeros(steps, dtype=np.int64)
    for t in range(steps - 1, -1, -1):
        path[t] = k
        if t:
            n, k = back_n[t, n, k], back_k[t, n, k]
    return path, best


def _probability_of_lengths(probs: np.ndarray, low: int, high: int) -> float:
    """The probability, summed over every path, that the collapsed text has `low`..`high` characters."""
    steps, classes = probs.shape
    alpha = np.zeros((high + 1, classes))
    alpha[0, 0] = probs[0, 0]
    if high >= 1:
        alpha[1, 1:] = probs[0, 1:]
    log_scale = 0.0
    for t in range(1, steps):
        total = alpha.sum(axis=1)
        new = np.zeros_like(alpha)
        new[:, 0] = total * probs[t, 0]
        emit = np.zeros_like(alpha)
        emit[1:] = total[:-1, None] - alpha[:-1]
        new[:, 1:] = (alpha + emit)[:, 1:] * probs[t, 1:]
        norm = new.sum()
        if norm <= 0:
            return 0.0
        alpha = new / norm
        log_scale += np.log(norm)
    return float(alpha[low : high + 1].sum() * np.exp(log_scale))


def _positions_of_length(probs: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position models: the best answer of `low`..`high` characters (characters first, padding after)
    and its probability given such a length."""
    slots = probs.shape[1]
    high = min(high, slots)
    char_best = probs[..., 1:].argmax(axis=-1) + 1
    char_p = np.take_along_axis(probs, char_best[..., None], axis=-1)[..., 0]
    char_mass = probs[..., 1:].sum(axis=-1)
    pad_p = probs[..., 0]
    ids, char_probs, raw = [], [], []
    for row in range(len(probs)):
        best_score = {n: np.prod(char_p[row, :n]) * np.prod(pad_p[row, n:]) for n in range(low, high + 1)}
        within = sum(np.prod(char_mass[row, :n]) * np.prod(pad_p[row, n:]) for n in range(low, high + 1))
        n = max(best_score, key=best_score.get)
        row_ids = np.where(np.arange(slots) < n, char_best[row], 0)
        ids.append(row_ids)
        char_probs.append(np.where(np.arange(slots) < n, char_p[row], pad_p[row]))
        raw.append(best_score[n] / within if within > 0 else 0.0)
    return np.stack(ids), np.stack(char_probs), np.array(raw)
