"""Arithmetic captchas: the generator's expressions, the parser that answers them, `--answer`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from captcha_cli.data.arithmetic import ExpressionError, random_expression, solve
from captcha_cli.data.datasets import audit_folder
from tests.helpers import invoke, invoke_json


@pytest.mark.parametrize(
    ("expression", "value"),
    [("12+34=?", 46), ("9x8=?", 72), ("7*6", 42), ("56/8=", 7), ("50-75=?", -25), ("2+3x4-10/5", 12), ("0+0?", 0)],
)
def test_solve(expression: str, value: int) -> None:
    assert solve(expression) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("12++3=?", "must alternate"),
        ("12+=?", "must alternate"),
        ("7/2=?", "whole number"),
        ("5/0", "whole number"),
        ("1a+2", "unexpected 'a'"),
        ("", "unexpected"),
        ("__import__('os')", "unexpected '_'"),
    ],
)
def test_what_does_not_parse_says_why(expression: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason):
        solve(expression)


def test_generated_expressions_all_have_whole_answers() -> None:
    rng = np.random.default_rng(0)
    expressions = [random_expression(rng) for _ in range(2000)]
    assert {op for e in expressions for op in "+-x/" if op in e} == set("+-x/")
    assert all(solve(e) >= 0 and e.endswith("=?") for e in expressions)


def test_generate_lists_labels_in_a_manifest_that_training_reads(runner, tmp_path) -> None:
    out = tmp_path / "arith"
    invoke_json(runner, "generate", out, "--style", "arithmetic", "--count", "12", "--seed", "3")
    again = invoke_json(runner, "generate", out, "--style", "arithmetic", "--count", "16", "--seed", "3")
    assert again["written"] == 4 and again["existing"] == 12
    with (out / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 16 and all(solve(row["label"]) >= 0 for row in rows)
    audit = audit_folder(out, None, None, None, False)
    assert len(audit.samples) == 16 and not audit.problems
    assert {s.label for s in audit.samples} == {row["label"] for row in rows}


def test_generate_refuses_to_mix_arithmetic_into_a_named_folder(runner, tmp_path) -> None:
    invoke_json(runner, "generate", tmp_path, "--count", "2")
    result = invoke(runner, "generate", tmp_path, "--style", "arithmetic", "--count", "2")
    assert result.exit_code == 1
    assert "holds images labelled by their names; arithmetic captchas are listed in labels.csv" in result.output


def test_predict_answers_and_reports_what_does_not_parse(runner, trained_run, digits_dir) -> None:
    # the tiny digits model reads digits only, so no answer parses as arithmetic unless it is a bare number
    images = sorted(digits_dir.glob("*.png"))[:3]
    result = invoke(runner, "predict", *images, "--model", trained_run[0], "--answer", "arithmetic", "--json")
    rows = json.loads(result.stdout)
    for row in rows:
        assert row["answer"] == (int(row["text"]) if row["text"] else None)
    assert result.exit_code == (1 if any(r["answer"] is None for r in rows) else 0)
    bad = invoke(runner, "predict", images[0], "--model", trained_run[0], "--answer", "sum")
    assert bad.exit_code == 2 and "choose one of text, arithmetic" in bad.output
