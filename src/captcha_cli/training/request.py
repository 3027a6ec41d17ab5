"""What `captcha train` was asked to do, resolved: from the options as given to the `TrainRequest`
the workflow runs. The recipe rules live here, in one pure function that needs no TensorFlow: the
report's defaults, then the preset's measured recipe (the `--init` model's preset when no `--arch`
is given), then the options given; generated captchas in half of every batch when there is no data
folder; the spec fields the options fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captcha_cli.spec import GENERATED_DATA_MIX, TrainConfig, train_config_for

DEFAULTS = TrainConfig()


@dataclass
class DataOptions:
    """Where the images come from and how labels are read."""

    data: Path | None = None
    val: Path | None = None
    label_pattern: str | None = None
    ignore_case: bool = False
    skip_invalid: bool = False
    synthetic_style: str = "noisy"
    synthetic_count: int = 8000
    synthetic_charset: str = "0-9a-zA-Z"
    synthetic_length: str = "4,6"
    unlabelled: Path | None = None  # a folder of captchas without labels (semi-supervised)


@dataclass
class TrainRequest:
    """Everything `captcha train` was asked to do."""

    config: TrainConfig
    data: DataOptions
    arch: str = "resnet34"
    charset: str | None = None  # None or "auto": infer from the labels
    max_length: int | None = None
    spec_overrides: dict[str, Any] = field(default_factory=dict)
    arch_given: bool = False
    max_steps_given: bool = False  # on resume, only an explicit --max-steps replaces the saved one
    project: Path = Path("runs")
    name: str | None = None
    resume: Path | None = None
    init: Path | None = None  # a saved model (or run folder) whose weights the new run starts from
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrainOptions:
    """`captcha train`'s options as given; None where an option was not given (and a preset or
    the report then decides). `time_budget` is the `--time` text (`90s`, `10m`, `2h`)."""

    data: Path | None = None
    val: Path | None = None
    arch: str | None = None
    init: Path | None = None
    resume: Path | None = None
    batch_size: int = DEFAULTS.batch_size
    lr: float = DEFAULTS.learning_rate
    max_steps: int | None = None
    val_every: int = DEFAULTS.val_every
    save_every: int = DEFAULTS.save_every
    keep: int = DEFAULTS.keep
    target_acc: float | None = None
    time_budget: str | None = None
    patience: int = DEFAULTS.lr_patience
    val_split: float = DEFAULTS.val_split
    seed: int = DEFAULTS.seed
    precision: str = DEFAULTS.precision
    strategy: str = DEFAULTS.strategy
    augment: bool | None = None
    synthetic_mix: float | None = None
    anneal: float | None = None
    weight_decay: float | None = None
    ema: float | None = None
    confidence_penalty: float | None = None
    unlabelled: Path | None = None
    unlabelled_share: float = DEFAULTS.unlabelled_share
    unlabelled_threshold: float = DEFAULTS.unlabelled_threshold
    loss: str | None = None
    dropout: float | None = None
    backend: str | None = None
    charset: str | None = None
    max_length: int | None = None
    height: int | None = None
    width: int | None = None
    label_pattern: str | None = None
    ignore_case: bool = False
    skip_invalid: bool = False
    synthetic_count: int = 8000
    synthetic_style: str = "noisy"
    project: Path = Path("runs")
    name: str | None = None
    command: tuple[str, ...] = ()


def build_request(options: TrainOptions, init_arch: Callable[[Path], str] | None = None) -> TrainRequest:
    """The run `options` ask for. `init_arch` reads the architecture of an `--init` model, whose
    preset recipe the run then follows (default: from the model's spec file, which loads
    TensorFlow); it is not called without `--init` or with `--arch`."""
    from captcha_cli.data.preprocessing import resolve_backend
    from captcha_cli.training.runs import parse_duration

    recipe_arch = options.arch or (options.init and (init_arch or _saved_arch)(options.init)) or "resnet34"
    synthetic_mix = options.synthetic_mix
    if synthetic_mix is None and options.data is None and options.resume is None:
        synthetic_mix = GENERATED_DATA_MIX
    config = train_config_for(
        recipe_arch,
        learning_rate=options.lr,
        batch_size=options.batch_size,
        max_steps=options.max_steps or DEFAULTS.max_steps,
        val_every=options.val_every,
        save_every=options.save_every,
        keep=options.keep,
        target_acc=options.target_acc,
        lr_patience=options.patience,
        val_split=options.val_split,
        seed=options.seed,
        precision=options.precision,
        strategy=options.strategy,
        augment=options.augment,
        synthetic_mix=synthetic_mix,
        anneal=options.anneal,
        weight_decay=options.weight_decay,
        ema=options.ema,
        confidence_penalty=options.confidence_penalty,
        unlabelled_share=options.unlabelled_share,
        unlabelled_threshold=options.unlabelled_threshold,
        time_budget_s=parse_duration(options.time_budget) if options.time_budget else None,
    )
    given = {"height": options.height, "width": options.width, "loss": options.loss, "dropout": options.dropout}
    overrides = {key: value for key, value in given.items() if value is not None}
    if options.backend:
        overrides["preprocessing"] = resolve_backend(options.backend)
    return TrainRequest(
        config=config,
        data=DataOptions(
            data=options.data,
            val=options.val,
            label_pattern=options.label_pattern,
            ignore_case=options.ignore_case,
            skip_invalid=options.skip_invalid,
            synthetic_style=options.synthetic_style,
            synthetic_count=options.synthetic_count,
            unlabelled=options.unlabelled,
        ),
        arch=recipe_arch,
        arch_given=options.arch is not None,
        max_steps_given=options.max_steps is not None,
        charset=options.charset,
        max_length=options.max_length,
        spec_overrides=overrides,
        project=options.project,
        name=options.name,
        resume=options.resume,
        init=options.init,
        command=list(options.command),
    )


def _saved_arch(model: Path) -> str:
    """The architecture of a saved model (a .keras file or a run folder)."""
    from captcha_cli import runtime

    runtime.import_tensorflow()
    from captcha_cli.model.modelio import resolve_model_path
    from captcha_cli.spec import load_spec

    return load_spec(resolve_model_path(model)).arch
