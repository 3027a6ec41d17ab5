"""How workflows report progress and events without knowing about rich or typer."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class Progress(Protocol):
    def advance(self, amount: int = 1, status: str = "") -> None: ...


class Reporter(Protocol):
    """What a workflow may tell the user: progress of long loops, notes, and structured events."""

    def progress(self, description: str, total: int | None) -> AbstractContextManager[Progress]: ...

    def info(self, message: str) -> None: ...

    def event(self, kind: str, data: dict[str, Any]) -> None: ...


class _NullProgress:
    def __enter__(self) -> _NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, amount: int = 1, status: str = "") -> None:
        return None


class NullReporter:
    """Reports nothing: for tests, library use and `--json`/`--quiet`."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.messages: list[str] = []

    def progress(self, description: str, total: int | None) -> _NullProgress:
        return _NullProgress()

    def info(self, message: str) -> None:
        self.messages.append(message)

    def event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
