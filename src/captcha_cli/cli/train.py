"""`captcha train`: train the shared model on a labelled folder (or on generated captchas)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from captcha_cli import runtime, ui
from captcha_cli.cli.common import (
    BACKEND_HELP,
    CharsetOpt,
    HeightOpt,
    IgnoreCaseOpt,
    JsonOpt,
    LabelPatternOpt,
    MaxLengthOpt,
    QuietOpt,
    SkipInvalidOpt,
    WidthOpt,
    command_line,
    handle_errors,
)
from captcha_cli.spec import ARCH_PRESETS, GENERATED_DATA_MIX, PRESET_TRAINING
from captcha_cli.training.request import DEFAULTS, TrainOptions, build_request

TRAIN_OPTIONS = {f.name for f in dataclasses.fields(TrainOptions)}  # the parameters that build the request


def _shown(value: Any) -> str:
    """A preset's value as the help shows it: on/off, 0.25, none."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default(field: str, shown: str, presets: dict[str, dict[str, Any]] = PRESET_TRAINING) -> str:
    """`Default: off (small: on).`: the report's default, then each preset's own value (the
    training recipes', or with ARCH_PRESETS the architectures')."""
    chosen = [f"{arch}: {_shown(recipe[field])}" for arch, recipe in presets.items() if recipe.get(field) is not None]
    return f"Default: {shown}" + (f" ({', '.join(chosen)})." if chosen else ".")


@handle_errors
def train(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Argument(help="Labelled image folder or preprocessed cache. Omit to train on generated captchas."),
    ] = None,
    val: Annotated[Path | None, typer.Option("--val", help="Validation folder (default: split DATA).")] = None,
    arch: Annotated[str | None, typer.Option("--arch", help=f"Architecture preset: {', '.join(ARCH_PRESETS)}.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Global batch size.")] = (
        DEFAULTS.batch_size
    ),
    lr: Annotated[float, typer.Option("--lr", help="Initial learning rate (Adam).")] = DEFAULTS.learning_rate,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="Stop after this many steps.")] = None,
    val_every: Annotated[int, typer.Option("--val-every", min=1, help="Validate every N steps.")] = (
        DEFAULTS.val_every
    ),
    save_every: Annotated[int, typer.Option("--save-every", min=1, help="Checkpoint every N steps.")] = (
        DEFAULTS.save_every
    ),
    keep: Annotated[int, typer.Option("--keep", min=1, help="Newest checkpoints to keep.")] = DEFAULTS.keep,
    target_acc: Annotated[
        float | None,
        typer.Option(
            "--target-acc", help="Stop at this full-string validation accuracy. " + _default("target_acc", "0.85")
        ),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time",
            help="Wall-clock budget of the whole run (90s, 10m, 2h); stops cleanly. --resume keeps the run's "
            "budget (time trained so far counts) unless given a new one.",
        ),
    ] = None,
    patience: Annotated[
        int,
        typer.Option("--patience", min=1, help="Validation rounds without val_loss improvement before halving the LR."),
    ] = DEFAULTS.lr_patience,
    loss: Annotated[
        str | None,
        typer.Option("--loss", help="softmax (per position), bce (the original) or ctc. Default: the preset's."),
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            "--dropout",
            min=0.0,
            help="Dropout rate of the head's one Dropout layer, in [0, 1). " + _default("dropout", "0.5", ARCH_PRESETS),
            show_default=False,
        ),
    ] = None,
    precision: Annotated[str, typer.Option("--precision", help="auto, float32, bfloat16 or float16.")] = (
        DEFAULTS.precision
    ),
    strategy: Annotated[
        str,
        typer.Option("--strategy", help="auto, one or mirrored (over local GPUs); the batch size is global."),
    ] = DEFAULTS.strategy,
    augment: Annotated[
        bool | None,
        typer.Option(
            "--augment/--no-augment",
            help="Random shifts, rotations, scalings, brightness/contrast and noise. " + _default("augment", "off"),
            show_default=False,
        ),
    ] = None,
    synthetic_mix: Annotated[
        float | None,
        typer.Option(
            "--synthetic-mix",
            min=0.0,
            max=1.0,
            help="Fraction of every batch replaced by freshly generated captchas of --synthetic-style. "
            + _default("synthetic_mix", "0")
            + f" Without DATA: {GENERATED_DATA_MIX:g} (the generated set's own style).",
        ),
    ] = None,
    unlabelled: Annotated[
        Path | None,
        typer.Option(
            "--unlabelled",
            help="A folder of captchas without labels to learn from too (semi-supervised): the averaged model's "
            "readings that reach --unlabelled-threshold become labels for augmented copies. Audited like DATA; "
            "images also in DATA are left out.",
        ),
    ] = None,
    unlabelled_share: Annotated[
        float,
        typer.Option("--unlabelled-share", help="Fraction of every batch given to --unlabelled captchas, in (0, 1)."),
    ] = DEFAULTS.unlabelled_share,
    unlabelled_threshold: Annotated[
        float,
        typer.Option(
            "--unlabelled-threshold",
            help="Probability (the raw CTC sum over alignments) a reading of an unlabelled captcha must reach "
            "to be learnt, in (0, 1).",
        ),
    ] = DEFAULTS.unlabelled_threshold,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            "--weight-decay",
            min=0.0,
            help="Decoupled weight decay (AdamW): each step shrinks the kernels by learning rate x this; "
            "biases and BatchNorm are left alone. " + _default("weight_decay", "0"),
        ),
    ] = None,
    ema: Annotated[
        float | None,
        typer.Option(
            "--ema",
            min=0.0,
            help="Validate and save an exponential moving average of the weights, moved 1 - this toward them "
            "each step (0.999 averages about the last 1,000 steps); 0 is off. " + _default("ema", "0"),
        ),
    ] = None,
    confidence_penalty: Annotated[
        float | None,
        typer.Option(
            "--confidence-penalty",
            min=0.0,
            help="Subtract this x the entropy of the model's output distributions from the training loss: "
            "penalizes overconfident outputs and, under CTC, shortens the all-blank plateau; 0 is off. "
            + _default("confidence_penalty", "0"),
        ),
    ] = None,
    anneal: Annotated[
        float | None,
        typer.Option(
            "--anneal",
            min=0.0,
            max=1.0,
            help="Cosine-anneal the learning rate to 1% over the last fraction of the --time or --max-steps "
            "budget. " + _default("anneal", "0"),
        ),
    ] = None,
    charset: CharsetOpt = None,
    max_length: MaxLengthOpt = None,
    height: HeightOpt = None,
    width: WidthOpt = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help=f"{BACKEND_HELP} " + _default("preprocessing", "auto", ARCH_PRESETS),
            show_default=False,
        ),
    ] = None,
    val_split: Annotated[float, typer.Option("--val-split", help="Validation fraction.")] = DEFAULTS.val_split,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, data order and init.")] = DEFAULTS.seed,
    label_pattern: LabelPatternOpt = None,
    ignore_case: IgnoreCaseOpt = False,
    skip_invalid: SkipInvalidOpt = False,
    synthetic_count: Annotated[
        int, typer.Option("--synthetic-count", min=10, help="Images generated when DATA is omitted.")
    ] = 8000,
    synthetic_style: Annotated[
        str,
        typer.Option(
            "--synthetic-style", help="noisy, crowded, simple or arithmetic: the generated set and --synthetic-mix."
        ),
    ] = "noisy",
    project: Annotated[Path, typer.Option("--project", help="Folder of run folders.")] = Path("runs"),
    name: Annotated[str | None, typer.Option("--name", help="Run folder name (default exp, exp2, ...).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue a run folder where it stopped.")] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init",
            help="Start from a saved model's weights (.keras file or run folder) to fine-tune it on DATA. "
            "The model fixes the architecture, charset, input size, loss, dropout and preprocessing.",
        ),
    ] = None,
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Train the captcha model: step-based, adaptive learning rate, checkpoints, best/last models."""
    from captcha_cli.charset import parse_charset
    from captcha_cli.data.synthetic import STYLES
    from captcha_cli.spec import LOSSES

    given = {name: value for name, value in locals().items() if name in TRAIN_OPTIONS}
    for rate, option in ((dropout, "--dropout"), (ema, "--ema")):  # both in [0, 1): Typer's min gives the 0
        if rate is not None and rate >= 1.0:
            raise typer.BadParameter(f"{rate:g} is not in [0, 1)", param_hint=option)
    fractions = ((unlabelled_share, "--unlabelled-share"), (unlabelled_threshold, "--unlabelled-threshold"))
    for fraction, option in fractions:
        if not 0.0 < fraction < 1.0:
            raise typer.BadParameter(f"{fraction:g} is not in (0, 1)", param_hint=option)
    if loss is not None and loss not in LOSSES:
        raise typer.BadParameter(f"choose one of {', '.join(LOSSES)}", param_hint="--loss")
    if charset not in (None, "auto"):
        parse_charset(charset)
    if synthetic_style not in STYLES:
        raise typer.BadParameter(f"choose one of {', '.join(STYLES)}", param_hint="--synthetic-style")
    request = build_request(TrainOptions(**given, command=tuple(command_line(ctx))))
    runtime.import_tensorflow()
    from captcha_cli.training.trainer import run_training

    result = run_training(request, ui.training_reporter(not (quiet or json_output)))
    if json_output:
        ui.print_json(
            {
                "run_dir": str(result.run_dir),
                "step": result.step,
                "stop_reason": result.stop_reason,
                "best_full_string_acc": result.best_full_string_acc,
                "last": result.last,
            }
        )
    if result.interrupted:
        ui.info(
            f"Interrupted at step {result.step:,}; checkpoint saved. Resume with: "
            f"captcha train --resume {result.run_dir}"
        )
        raise typer.Exit(130)
