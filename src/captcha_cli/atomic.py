"""Writing files so that a reader never sees half of one: write a temporary name beside the
target, then rename it into place (a rename within a folder is atomic). Folders (a checkpoint,
a cache, an export) follow the same pattern where they are written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (`.NAME.tmp.SUFFIX`: writers that read the suffix still know
    the format), renamed onto `path` when the block ends and removed if the block fails."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
