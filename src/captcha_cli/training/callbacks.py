"""The callbacks `captcha train` gives `Model.fit`. One epoch is one validation round of
`--val-every` steps; `RunControl` counts steps across the run, anneals, shows progress and stops
on the budget, `ValidationRounds` scores and keeps the best model, `RoundLog` writes each round's
row, and `StepCheckpoints` writes the step checkpoints a resume starts from."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from captcha_cli.errors import TrainingError
from captcha_cli.reporting import AnnealStarted, Progress, Reporter, ValidationDone
from captcha_cli.spec import ModelSpec, TrainConfig
from captcha_cli.training.adaptive_lr import AdaptiveLearningRate, learning_rate
from captcha_cli.training.annealing import FLOOR, BudgetAnneal, budget_progress
from captcha_cli.training.curves import draw_curves
from captcha_cli.training.distribute import agree
from captcha_cli.training.runs import OPTIONAL_METRIC_FIELDS, MetricsLog, format_duration

TENSORBOARD_KEYS = ("loss", "val_loss", "full_string_acc", "char_acc", "lr", "images_per_s")


@dataclass
class RunState:
    """What the callbacks of one run share; `step`, `best` and the seconds trained go into every
    checkpoint."""

    step: int = 0
    best: float = -1.0
    elapsed_before: float = 0.0  # seconds trained by earlier `--resume` invocations
    started: float = field(default_factory=time.monotonic)
    clock: float = 0.0  # seconds trained, as the workers agreed at the last step
    stop_reason: str = ""
    images_per_s: float = 0.0  # in the current round
    calibrated_spec: ModelSpec | None = None  # the spec with the latest validation's confidence map
    last_row: dict[str, Any] = field(default_factory=dict)

    def elapsed(self) -> float:
        """Seconds trained over the whole run, including what earlier `--resume` invocations trained."""
        return self.elapsed_before + time.monotonic() - self.started


class RunControl(keras.callbacks.Callback):
    """Counts the run's steps, sets the `--anneal` rate before each, stops on a diverged loss,
    `--max-steps`, `--time` or Ctrl-C (the workers agree on both), and advances the progress bar."""

    def __init__(
        self,
        state: RunState,
        config: TrainConfig,
        anneal: BudgetAnneal,
        bar: Progress,
        reporter: Reporter,
        stop_requested: Callable[[], str | None],
        strategy: tf.distribute.Strategy,
    ) -> None:
        super().__init__()
        self.state, self.config, self.anneal, self.bar, self.reporter = state, config, anneal, bar, reporter
        self.stop_requested, self.strategy = stop_requested, strategy
        self.round_started, self.round_images = time.monotonic(), 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.round_started, self.round_images = time.monotonic(), 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        config, state = self.config, self.state
        progress = budget_progress(state.step, config.max_steps, state.clock, config.time_budget_s)
        if not self.anneal.active(progress):
            return
        starting = self.anneal.start_lr is None
        rate = self.anneal.rate(progress, learning_rate(self.model.optimizer))
        if starting:
            self.reporter.event(AnnealStarted(state.step, rate, self.anneal.start_lr * FLOOR, config.anneal))
        self.model.optimizer.learning_rate = rate

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        config, state = self.config, self.state
        state.step += 1
        loss = float(np.mean(logs["loss"]))  # the round's mean so far: one diverged step makes it non-finite
        if not math.isfinite(loss):
            raise TrainingError(
                f"training diverged at step {state.step} (loss {loss})", hint="lower --lr, or use --precision float32"
            )
        self.round_images += config.batch_size
        state.images_per_s = self.round_images / max(time.monotonic() - self.round_started, 1e-9)
        budget = f"  {format_duration(self.time_left())} of --time left" if config.time_budget_s else ""
        rate = learning_rate(self.model.optimizer)
        status = f"loss {loss:.4f}  lr {rate:.2e}  {state.images_per_s:.1f} img/s{budget}"
        self.bar.advance(1, status)
        if state.step >= config.max_steps:
            self.stop("max steps reached")
            return
        interrupted, state.clock = agree(self.strategy, self.stop_requested() is not None, state.elapsed())
        if interrupted or self.time_left() <= 0:
            self.stop(self.stop_requested() or "time budget used")

    def time_left(self) -> float:
        """What is left of --time, the whole run's budget, at the last agreed clock."""
        return max((self.config.time_budget_s or math.inf) - self.state.clock, 0.0)

    def stop(self, reason: str) -> None:
        """End the run after this step (`fit` still closes the round: it is validated)."""
        self.state.stop_reason = self.state.stop_reason or reason
        self.model.stop_training = True


class ValidationRounds(keras.callbacks.Callback):
    """At the end of each round (and at a stop between two): scores on the validation split into
    the logs, the spec with its confidence map fitted, `best.keras` kept by full-string accuracy,
    and a stop at `--target-acc`."""

    def __init__(
        self,
        state: RunState,
        config: TrainConfig,
        validate: Callable[[], tuple[dict[str, float], ModelSpec]],
        save_best: Callable[[ModelSpec], None],
    ) -> None:
        super().__init__()
        self.state, self.config, self.validate, self.save_best = state, config, validate, save_best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = self.state
        metrics, state.calibrated_spec = self.validate()
        logs.update(metrics)
        logs["improved"] = metrics["full_string_acc"] > state.best
        if logs["improved"]:
            state.best = metrics["full_string_acc"]
            self.save_best(state.calibrated_spec)
        if metrics["full_string_acc"] >= self.config.target_acc:
            state.stop_reason = state.stop_reason or f"target full-string accuracy {self.config.target_acc:.2%} reached"
            self.model.stop_training = True


class RoundLog(keras.callbacks.Callback):
    """Each round's row, after the learning rate has reacted to it: `metrics.csv`, the curves,
    TensorBoard's scalars (by step) and the `validation` event."""

    def __init__(self, state: RunState, metrics: MetricsLog, run_dir, reporter: Reporter) -> None:
        super().__init__()
        self.state, self.metrics, self.run_dir, self.reporter = state, metrics, run_dir, reporter
        self.writer = tf.summary.create_file_writer(str(run_dir / "logs"))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = self.state
        row = {
            "step": state.step,
            "loss": float(logs["loss"]),
            "val_loss": logs["val_loss"],
            "full_string_acc": logs["full_string_acc"],
            "char_acc": logs["char_acc"],
            "lr": learning_rate(self.model.optimizer),
            "images_per_s": state.images_per_s,
            "elapsed_s": state.elapsed(),
        }
        if "pseudo_labelled" in logs:  # --unlabelled: the round's share of readings used as labels
            row["pseudo_labelled"] = float(np.mean(logs["pseudo_labelled"]))
        state.last_row = row
        self.metrics.append(row)
        draw_curves(self.metrics.rows, self.run_dir / "curves.png")
        with self.writer.as_default(step=state.step):
            for key in (*TENSORBOARD_KEYS, *OPTIONAL_METRIC_FIELDS):
                if key in row:
                    tf.summary.scalar(key, row[key])
        self.reporter.event(ValidationDone(**row, best=state.best, improved=bool(logs["improved"])))

    def on_train_end(self, logs: dict | None = None) -> None:
        self.writer.flush()


class StepCheckpoints(keras.callbacks.Callback):
    """A checkpoint every `--save-every` steps. One that falls on a round's last step is written
    after the round's validation, so a resume from it starts the next round as the run would have."""

    def __init__(self, state: RunState, config: TrainConfig, save: Callable[[], None]) -> None:
        super().__init__()
        self.state, self.config, self.save = state, config, save

    def due(self) -> bool:
        return self.state.step % self.config.save_every == 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        closes_round = self.state.step % self.config.val_every == 0 or self.model.stop_training
        if self.due() and not closes_round:
            self.save()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.due() and not self.model.stop_training:  # a stopped run saves once, when fit returns
            self.save()


def round_counts(state: RunState, config: TrainConfig, anneal: BudgetAnneal) -> Callable[[], bool]:
    """Whether the adaptive learning rate hears this round: a full round before annealing began
    (the validation at a stop between two rounds is only reported)."""
    return lambda: state.step % config.val_every == 0 and anneal.start_lr is None


def run_callbacks(
    control: RunControl,
    rounds: ValidationRounds,
    adaptive: AdaptiveLearningRate | None,
    log: RoundLog,
    checkpoints: StepCheckpoints,
) -> list[keras.callbacks.Callback]:
    """In the order `fit` must call them: the step count first, the learning rate after the scores
    and before the row that records it, the checkpoint last."""
    return [c for c in (control, rounds, adaptive, log, checkpoints) if c is not None]
