"""Training callbacks: the report's AdaptiveLearningRate (a Keras ReduceLROnPlateau)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from captcha_cli.reporting import LearningRateLowered, LearningRateWatch, NullReporter, Reporter


def learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimizer's current learning rate, as a Python float."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class AdaptiveLearningRate(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau that reports its configuration and every change it makes.

    One "epoch" is one validation round of step-based training. On train begin it reports the
    initial learning rate and its settings; when it lowers the rate it reports old -> new, the
    reduction in percent and the reason. `counts` says whether the round that just ended is one it
    should hear (`captcha train` skips the validation at a stop and the rounds after annealing
    began). Its counters survive a second `fit` of the same run and a resume (`restore`).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.5,
        patience: int = 5,
        min_lr: float = 1e-7,
        reporter: Reporter | None = None,
        counts: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(monitor=monitor, factor=factor, patience=patience, min_lr=min_lr, verbose=0, **kwargs)
        self.reporter = reporter or NullReporter()
        self.counts = counts or (lambda: True)
        self.begun = False
        self.restored: dict[str, float | None] | None = None

    def direction(self) -> str:
        """`min` or `max`: which way the monitored value improves."""
        if self.mode != "auto":
            return self.mode
        return "max" if "acc" in self.monitor else "min"

    def current_lr(self) -> float:
        return learning_rate(self.model.optimizer)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.begun:  # the same run's next `fit`: keep the counters
            return
        self.begun = True
        super().on_train_begin(logs)
        if self.restored is not None:
            self.wait = int(self.restored["wait"])
            self.best = None if self.restored["best"] is None else float(self.restored["best"])
            self.cooldown_counter = int(self.restored["cooldown_counter"])
        self.reporter.event(
            LearningRateWatch(
                self.current_lr(), self.monitor, self.direction(), self.factor, self.patience, self.min_lr
            )
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.counts():
            return
        old = self.current_lr()
        super().on_epoch_end(epoch, logs)
        new = self.current_lr()
        if new < old:
            reason = f"{self.monitor} did not improve in {self.patience} rounds"
            self.reporter.event(LearningRateLowered(epoch, old, new, reason))

    def state(self) -> dict[str, float | None]:
        """What must survive a resume: the plateau counters and the best value seen."""
        best = None if self.best is None else float(self.best)
        return {"wait": self.wait, "best": best, "cooldown_counter": self.cooldown_counter}

    def restore(self, state: dict[str, float | None]) -> None:
        """Take a checkpoint's `state()`; it holds from the next train begin."""
        self.restored = state


def create_callbacks(config, reporter: Reporter | None = None, use_adaptive_lr: bool = True) -> list:
    """The training callbacks; with `use_adaptive_lr` (the default) the AdaptiveLearningRate."""
    callbacks: list = []
    if use_adaptive_lr:
        callbacks.append(
            AdaptiveLearningRate(
                monitor="val_loss",
                factor=config.lr_factor,
                patience=config.lr_patience,
                min_lr=config.min_lr,
                reporter=reporter,
            )
        )
    return callbacks
