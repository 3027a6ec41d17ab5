"""Sections 3 and 5 of the report: the adaptive learning rate and the training defaults,
read from what `captcha train` really builds and uses."""

from __future__ import annotations

from types import SimpleNamespace

import keras

from captcha_cli.checks.base import Check, check, guarded
from captcha_cli.reporting import LearningRateLowered, LearningRateWatch, NullReporter
from captcha_cli.spec import TrainConfig
from captcha_cli.training.adaptive_lr import AdaptiveLearningRate, create_callbacks, learning_rate
from captcha_cli.training.trainer import make_optimizer

REPORT_DEFAULTS = [
    ("learning_rate", "initial learning rate", 0.001),
    ("batch_size", "batch size", 64),
    ("max_steps", "maximum steps", 200_000),
    ("val_every", "validate every N steps", 300),
    ("save_every", "checkpoint every N steps", 500),
    ("keep", "checkpoints kept", 3),
    ("target_acc", "stop at full-string accuracy", 0.85),
    ("val_split", "validation split", 0.2),
]


def _adaptive(config: TrainConfig, reporter=None) -> AdaptiveLearningRate:
    callbacks = create_callbacks(config, reporter or NullReporter())
    found = [c for c in callbacks if isinstance(c, AdaptiveLearningRate)]
    if len(found) != 1:
        raise AssertionError(f"create_callbacks gave {len(found)} AdaptiveLearningRate callbacks")
    return found[0]


def _simulate(rounds: list[float], lr: float = 0.001) -> tuple[NullReporter, keras.optimizers.Optimizer]:
    """Run the real callback over validation rounds with the given val_loss values."""
    reporter = NullReporter()
    callback = _adaptive(TrainConfig(), reporter)
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    callback.set_model(SimpleNamespace(optimizer=optimizer))
    callback.on_train_begin()
    for index, value in enumerate(rounds):
        callback.on_epoch_end(index, {"val_loss": value})
    return reporter, optimizer


def training_checks() -> list[Check]:
    config = TrainConfig()
    results: list[Check] = []

    def subclass() -> Check:
        callback = _adaptive(config)
        return check(
            "AdaptiveLearningRate class",
            "subclass of keras.callbacks.ReduceLROnPlateau",
            " -> ".join(c.__name__ for c in type(callback).__mro__[:3]),
            isinstance(callback, keras.callbacks.ReduceLROnPlateau),
        )

    def settings() -> Check:
        c = _adaptive(config)
        found = f"monitor={c.monitor}, factor={c.factor}, patience={c.patience}, min_lr={c.min_lr:g}"
        return check(
            "adaptive LR settings",
            "monitor=val_loss, factor=0.5, patience=5, min_lr=1e-07",
            found,
            (c.monitor, c.factor, c.patience, c.min_lr) == ("val_loss", 0.5, 5, 1e-7),
        )

    def switch() -> Check:
        on = [type(c).__name__ for c in create_callbacks(config)]
        off = [type(c).__name__ for c in create_callbacks(config, use_adaptive_lr=False)]
        no_early = not any("EarlyStopping" in name for name in on)
        return check(
            "create_callbacks(use_adaptive_lr=True)",
            "adds AdaptiveLearningRate; no early stopping",
            f"on: {on}; off: {off}",
            on == ["AdaptiveLearningRate"] and off == [] and no_early,
        )

    def start_log() -> Check:
        reporter, _ = _simulate([])
        start = [e for e in reporter.events if isinstance(e, LearningRateWatch)]
        found = f"{start[0].lr:.6f}, {start[0].monitor}" if start else "nothing logged"
        return check(
            "logs the initial LR on train begin",
            "0.001000 and its configuration",
            found,
            bool(start) and abs(start[0].lr - 0.001) < 1e-9,
        )

    def halving() -> Check:
        reporter, optimizer = _simulate([1.0] * 6)
        changes = [e for e in reporter.events if isinstance(e, LearningRateLowered)]
        if not changes:
            return check("halves the LR on a plateau", "0.001000 -> 0.000500 (-50.0%)", "no change", False)
        d = changes[0]
        found = f"{d.old:.6f} -> {d.new:.6f} (-{d.percent:.1f}%)  reason: {d.reason}"
        return check(
            "halves the LR on a plateau",
            "0.001000 -> 0.000500 (-50.0%)  reason: val_loss did not improve in 5 rounds",
            found,
            found == "0.001000 -> 0.000500 (-50.0%)  reason: val_loss did not improve in 5 rounds",
        )

    def patience_respected() -> Check:
        reporter, _ = _simulate([1.0] * 5)
        changes = [e for e in reporter.events if isinstance(e, LearningRateLowered)]
        return check("waits for patience", "no change after 4 flat rounds", f"{len(changes)} changes", not changes)

    def floor() -> Check:
        _, optimizer = _simulate([1.0] * 400)
        lr = learning_rate(optimizer)
        return check(
            "minimum learning rate", "never below 1e-07", f"{lr:.3g} after 400 flat rounds", abs(lr - 1e-7) < 1e-12
        )

    def optimizer() -> Check:
        opt = make_optimizer(config, "float32", [])
        lr = learning_rate(opt)
        return check(
            "optimizer",
            "Adam, initial learning rate 0.001",
            f"{type(opt).__name__}, {lr:g}",
            isinstance(opt, keras.optimizers.Adam) and abs(lr - 0.001) < 1e-9,
        )

    for name, probe in (
        ("AdaptiveLearningRate class", subclass),
        ("adaptive LR settings", settings),
        ("create_callbacks", switch),
        ("initial LR log", start_log),
        ("halving", halving),
        ("patience", patience_respected),
        ("minimum LR", floor),
        ("optimizer", optimizer),
    ):
        results.append(guarded(name, name, probe))
    for field, label, expected in REPORT_DEFAULTS:
        value = getattr(config, field)
        results.append(
            check(
                f"training default: {label}",
                f"{expected:g}" if isinstance(expected, float) else f"{expected:,}",
                f"{value:g}" if isinstance(value, float) else f"{value:,}",
                value == expected,
            )
        )
    return results
