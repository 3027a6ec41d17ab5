"""Constrained decoding (`--charset`, `--length`, `--ignore-case`): searched, never filtered."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from captcha_cli.errors import CaptchaError
from captcha_cli.model.decoding import Constraint, _best_path_of_length, _probability_of_lengths, decode_logits
from captcha_cli.spec import spec_for_arch
from tests.helpers import invoke, invoke_json

CHARS = "0123abAB"  # classes: blank, 0 1 2 3 a b A B


def _spec(loss: str, max_length: int = 4):
    return spec_for_arch("small", charset=CHARS, max_length=max_length, loss=loss)


def _logits(rows: list[dict[str, float]], spec) -> np.ndarray:
    """Logits whose softmax gives each slot the listed probabilities (the rest spread evenly)."""
    classes = spec.codec.classes
    out = np.zeros((len(rows), len(classes)))
    for t, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (len(classes) - len(row))
        out[t] = [np.log(row.get(c, rest)) for c in classes]
    return out.reshape(1, -1)


def _ctc(rows: list[dict[str, float]], spec) -> np.ndarray:
    steps = spec.output_steps
    return _logits(rows + [{" ": 0.99}] * (steps - len(rows)), spec)


def _collapse(path) -> list[int]:
    return [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]


def test_length_search_matches_brute_force_over_every_path() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        probs = rng.dirichlet(np.ones(3), size=5)
        low, high = sorted(int(v) for v in rng.integers(1, 4, size=2))
        best, total = 0.0, 0.0
        for path in itertools.product(range(3), repeat=5):
            p = float(np.prod(probs[np.arange(5), path]))
            if low <= len(_collapse(path)) <= high:
                total += p
                best = max(best, p)
        path, log_best = _best_path_of_length(probs, low, high)
        assert np.exp(log_best) == pytest.approx(best, rel=1e-9)
        assert float(np.prod(probs[np.arange(5), path])) == pytest.approx(best, rel=1e-9)
        assert low <= len(_collapse(list(path))) <= high
        assert _probability_of_lengths(probs, low, high) == pytest.approx(total, rel=1e-9)


def test_ctc_charset_searches_within_the_allowed_characters() -> None:
    spec = _spec("ctc")
    # step 2's best class is the letter a; among digits, 2 is the best there
    logits = _ctc([{"1": 0.9}, {" ": 0.9}, {"a": 0.6, "2": 0.3, "3": 0.05}, {" ": 0.9}], spec)
    ids, _, plain = decode_logits(logits, spec)
    assert spec.codec.decode(ids[0]) == "1a"
    ids, _, constrained = decode_logits(logits, spec, Constraint.parse("0-9"))
    assert spec.codec.decode(ids[0]) == "12"  # not "1" (a filter would drop the a)
    # the digit's probability renormalized over the allowed classes: 0.3 / (1 - 0.6 - rest of the letters)
    assert constrained[0] > plain[0] * 0.3 / 0.6


def test_ctc_length_reads_a_doubled_character_when_four_are_asked_for() -> None:
    spec = _spec("ctc")
    # two 1s that the best path merges (its step 1 is a 1, not the blank between them)
    rows = [{"1": 0.9}, {"1": 0.55, " ": 0.44}, {"1": 0.9}, {"2": 0.9}, {" ": 0.9}, {"3": 0.9}]
    logits = _ctc(rows, spec)
    ids, _, _ = decode_logits(logits, spec)
    assert spec.codec.decode(ids[0]) == "123"
    ids, _, confidence = decode_logits(logits, spec, Constraint.parse(length="4"))
    assert spec.codec.decode(ids[0]) == "1123"
    assert 0 < confidence[0] <= 1


def test_ignore_case_merges_partners_before_choosing() -> None:
    spec = _spec("ctc")
    # b alone is likelier than a or A, but a and A together beat it
    logits = _ctc([{"b": 0.4, "a": 0.3, "A": 0.25}], spec)
    ids, _, plain = decode_logits(logits, spec)
    assert spec.codec.decode(ids[0]) == "b"
    ids, _, folded = decode_logits(logits, spec, Constraint(ignore_case=True))
    assert spec.codec.decode(ids[0]) == "a"
    assert folded[0] > plain[0]


def test_position_model_length_and_charset() -> None:
    spec = _spec("softmax", max_length=4)
    logits = _logits([{"1": 0.9}, {"a": 0.7, "2": 0.2}, {" ": 0.6, "3": 0.3}, {" ": 0.9}], spec)
    ids, _, _ = decode_logits(logits, spec)
    assert spec.codec.decode(ids[0]) == "1a"
    ids, probs, confidence = decode_logits(logits, spec, Constraint.parse("0-9", "3"))
    assert spec.codec.decode(ids[0]) == "123"
    assert probs.shape == (1, 4) and 0 < confidence[0] <= 1


@pytest.mark.parametrize("length", ["0", "4-2", "x", "3-"])
def test_bad_lengths_are_refused(length: str) -> None:
    with pytest.raises(CaptchaError, match=f"Received: {length}"):
        Constraint.parse(length=length)


def test_a_constraint_the_model_cannot_meet_is_refused() -> None:
    spec = _spec("ctc")
    with pytest.raises(CaptchaError, match="shares no character"):
        Constraint.parse("x-z").allowed_classes(spec)
    with pytest.raises(CaptchaError, match="at most 4 characters"):
        Constraint.parse(length="5").allowed_classes(spec)


def test_predict_and_evaluate_answer_within_the_constraint(runner, trained_run, digits_dir) -> None:
    model = trained_run[0] / "best.keras"
    rows = invoke_json(runner, "predict", digits_dir, "--model", model, "--charset", "0-3", "--length", "2-3")
    assert len(rows) == 64
    assert all(set(r["text"]) <= set("0123") and 2 <= len(r["text"]) <= 3 for r in rows)
    result = invoke_json(runner, "evaluate", digits_dir, "--model", model, "--length", "4", "--quiet")
    assert result["images"] == 64
    assert all(len(e["predicted"]) == 4 for e in result["errors"])


def test_predict_refuses_a_length_the_model_cannot_read(runner, trained_run, digits_dir) -> None:
    result = invoke(runner, "predict", digits_dir, "--model", trained_run[0] / "best.keras", "--length", "9")
    assert result.exit_code == 1
    assert "--length 9 is longer than this model reads (at most 4 characters)" in result.output
    assert "Traceback" not in result.output
