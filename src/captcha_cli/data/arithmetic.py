"""Arithmetic captchas (`12+34=?` wants `46`): the expressions the generator draws, and a small
parser that answers them (integers, `+ - x * /`, the usual precedence; never `eval`)."""

from __future__ import annotations

import re

import numpy as np

from captcha_cli.errors import CaptchaError

ARITHMETIC_CHARSET = "0123456789+-x*/=?"
_TOKEN = re.compile(r"\d+|[+\-x*/]")
_TRAILER = re.compile(r"=\??$|\?$")


class ExpressionError(CaptchaError):
    """A read expression that does not give a whole number."""


def solve(expression: str) -> int:
    """The value of an expression read from a captcha (`12+34=?` -> 46). `x` and `*` multiply;
    `/` must divide exactly. Raises ExpressionError saying where it fails."""
    text = _TRAILER.sub("", expression.replace(" ", ""))
    tokens, position = [], 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:
            break
        tokens.append(match.group())
        position = match.end()
    if position != len(text) or not text:
        raise ExpressionError(f"cannot read {expression!r} as arithmetic (unexpected {text[position:][:1]!r})")
    if len(tokens) % 2 == 0 or any((i % 2 == 0) != token.isdigit() for i, token in enumerate(tokens)):
        raise ExpressionError(f"cannot read {expression!r} as arithmetic (numbers and operators must alternate)")
    terms: list[int] = []  # the sum's terms, each a finished product
    signs: list[int] = [1]
    value = int(tokens[0])
    for operator, operand in zip(tokens[1::2], tokens[2::2], strict=True):
        number = int(operand)
        if operator in "x*":
            value *= number
        elif operator == "/":
            if number == 0 or value % number:
                raise ExpressionError(f"{expression!r} does not give a whole number")
            value //= number
        else:
            terms.append(value)
            signs.append(1 if operator == "+" else -1)
            value = number
    terms.append(value)
    return sum(sign * term for sign, term in zip(signs, terms, strict=True))


def random_expression(rng: np.random.Generator) -> str:
    """An expression as arithmetic captchas show it: two numbers under 100 (one digit for `x`,
    a whole quotient for `/`, never below zero for `-`), then `=?`."""
    operator = "+-x/"[int(rng.integers(0, 4))]
    if operator == "x":
        a, b = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    elif operator == "/":
        b = int(rng.integers(1, 10))
        a = b * int(rng.integers(1, 100 // b + 1))
    else:
        a, b = int(rng.integers(0, 100)), int(rng.integers(0, 100))
        if operator == "-" and b > a:
            a, b = b, a
    return f"{a}{operator}{b}=?"
