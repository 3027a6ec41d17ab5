"""Text <-> position-class ids: charset parsing, padding, encoding and decoding."""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence

from captcha_cli.errors import CharsetError

PAD = " "
DEFAULT_CHARSET = string.digits + string.ascii_lowercase + string.ascii_uppercase


def parse_charset(text: str) -> str:
    """Expand a charset description like `0-9a-zA-Z` or `0-9A-Z_` into its characters.

    A `-` between two characters is a range; a `-` first or last is literal.
    Order is kept, duplicates are refused.
    """
    if not text:
        raise CharsetError("charset is empty. Received: charset=''")
    chars: list[str] = []
    i = 0
    while i < len(text):
        if i + 2 < len(text) and text[i + 1] == "-":
            start, end = text[i], text[i + 2]
            if ord(end) < ord(start):
                raise CharsetError(f"charset range {start}-{end} runs backwards. Received: charset={text!r}")
            chars.extend(chr(c) for c in range(ord(start), ord(end) + 1))
            i += 3
        else:
            chars.append(text[i])
            i += 1
    return validate_charset("".join(chars), source=text)


def validate_charset(chars: str, source: str | None = None) -> str:
    """Check that an expanded charset has no padding character and no duplicates."""
    shown = source if source is not None else chars
    if not chars:
        raise CharsetError(f"charset is empty. Received: charset={shown!r}")
    if PAD in chars:
        raise CharsetError(f"charset may not contain the padding space. Received: charset={shown!r}")
    dupes = sorted({c for c in chars if chars.count(c) > 1})
    if dupes:
        raise CharsetError(f"charset repeats {''.join(dupes)!r}. Received: charset={shown!r}")
    return chars


def charset_from_labels(labels: Iterable[str]) -> str:
    """The sorted set of characters used by the labels (digits, then lower, upper, others)."""
    found = set().union(*(set(label) for label in labels)) if labels else set()
    return "".join(sorted(found, key=_charset_order))


def _charset_order(char: str) -> tuple[int, str]:
    order = DEFAULT_CHARSET.find(char)
    return (order, char) if order >= 0 else (len(DEFAULT_CHARSET), char)


def compact_charset(chars: str) -> str:
    """The shortest range notation for a charset (`0123456789abc` -> `0-9a-c`)."""
    out: list[str] = []
    i = 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        out.append(f"{chars[i]}-{chars[j]}" if j - i >= 2 else chars[i : j + 1])
        i = j + 1
    return "".join(out)


class Codec:
    """Maps labels to fixed-length class ids and back; class 0 is the padding space."""

    def __init__(self, charset: str, max_length: int) -> None:
        self.charset = validate_charset(charset)
        if max_length < 1:
            raise CharsetError(f"max_length must be at least 1. Received: max_length={max_length}")
        self.max_length = max_length
        self.classes = PAD + self.charset
        self._index = {c: i for i, c in enumerate(self.classes)}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def problem(self, label: str) -> str | None:
        """Why a label cannot be encoded, or None when it can."""
        if not label:
            return "empty label"
        if len(label) > self.max_length:
            return f"label longer than {self.max_length} characters"
        unknown = sorted({c for c in label if c not in self._index or c == PAD})
        if unknown:
            return f"characters outside the charset: {''.join(unknown)!r}"
        return None

    def encode(self, label: str) -> list[int]:
        """Class ids of a label, padded with the padding class to max_length."""
        reason = self.problem(label)
        if reason:
            raise CharsetError(f"cannot encode label {label!r}: {reason}")
        return [self._index[c] for c in label] + [0] * (self.max_length - len(label))

    def decode(self, ids: Sequence[int]) -> str:
        """Text of per-position class ids; padding positions are dropped."""
        return "".join(self.classes[i] for i in ids if i != 0)
