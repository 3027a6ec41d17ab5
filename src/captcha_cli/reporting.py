"""How workflows report progress and events without knowing about rich or typer: the `Reporter`
protocol, and the typed events a workflow hands it (the console renders each kind; tests and
`verify` read them)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RunStarted:
    """A training run's set-up, shown as the training panel."""

    run_dir: str
    data: str
    train: int  # images in the training split
    val: int
    charset: str
    max_length: int
    arch: str
    loss: str
    preprocessing: str
    input: str  # `128x40, 25 CTC time steps`
    precision: str
    batch_size: int
    batch_makeup: str  # `48 from the data + 16 generated noisy, augmented`
    weight_decay: float
    ema: float
    confidence_penalty: float
    resumed: bool
    init: str | None  # the model whose weights the run started from
    unlabelled: int = 0  # images of the --unlabelled folder


@dataclass(frozen=True)
class LearningRateWatch:
    """The adaptive learning rate's settings, when training begins."""

    lr: float
    monitor: str
    mode: str  # `min` or `max`
    factor: float
    patience: int
    min_lr: float


@dataclass(frozen=True)
class LearningRateLowered:
    """The adaptive learning rate lowered the rate after a plateau."""

    round: int
    old: float
    new: float
    reason: str

    @property
    def percent(self) -> float:
        return 100.0 * (self.old - self.new) / self.old


@dataclass(frozen=True)
class AnnealStarted:
    """`--anneal` took over the rate: a half cosine from `start` to `end` over the budget's end."""

    step: int
    start: float
    end: float
    fraction: float


@dataclass(frozen=True)
class ValidationDone:
    """One validation round's row (as metrics.csv records it), the best so far and whether it improved."""

    step: int
    loss: float
    val_loss: float
    full_string_acc: float
    char_acc: float
    lr: float
    images_per_s: float
    elapsed_s: float
    best: float
    improved: bool
    pseudo_labelled: float | None = None  # --unlabelled: the share of readings used as labels


@dataclass(frozen=True)
class RunEnded:
    run_dir: str
    step: int
    reason: str
    best: float


Event = RunStarted | LearningRateWatch | LearningRateLowered | AnnealStarted | ValidationDone | RunEnded


class Progress(Protocol):
    def advance(self, amount: int = 1, status: str = "") -> None: ...


class Reporter(Protocol):
    """What a workflow may tell the user: progress of long loops, notes, and structured events."""

    def progress(self, description: str, total: int | None) -> AbstractContextManager[Progress]: ...

    def info(self, message: str) -> None: ...

    def event(self, event: Event) -> None: ...


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
        self.events: list[Event] = []
        self.messages: list[str] = []

    def progress(self, description: str, total: int | None) -> _NullProgress:
        return _NullProgress()

    def info(self, message: str) -> None:
        self.messages.append(message)

    def event(self, event: Event) -> None:
        self.events.append(event)
