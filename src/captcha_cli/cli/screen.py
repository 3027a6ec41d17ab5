"""`captcha screen`: find the wrong labels of a training folder with models that left them out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import runtime, ui
from captcha_cli.cli.common import (
    IgnoreCaseOpt,
    JsonOpt,
    LabelPatternOpt,
    ProjectOpt,
    QuietOpt,
    SkipInvalidOpt,
    command_line,
    handle_errors,
)
from captcha_cli.spec import ARCH_PRESETS, train_config_for


@handle_errors
def screen(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Labelled image folder (labels as for training).")],
    folds: Annotated[
        int, typer.Option("--folds", min=2, help="Parts: each is read by a model trained on the others.")
    ] = 2,
    arch: Annotated[str, typer.Option("--arch", help=f"Architecture preset: {', '.join(ARCH_PRESETS)}.")] = "small",
    time_budget: Annotated[
        str, typer.Option("--time", help="Training time of each part's model (90s, 10m, 2h).")
    ] = "5m",
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Stop each model after this many steps.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", "-b", min=1, help="Global batch size.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of each model's weights and batches.")] = 0,
    label_pattern: LabelPatternOpt = None,
    ignore_case: IgnoreCaseOpt = False,
    skip_invalid: SkipInvalidOpt = False,
    project: ProjectOpt = Path("runs"),
    name: Annotated[
        str | None, typer.Option("--name", help="Folder under --project. Default: screen, screen2, ...")
    ] = None,
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Rank the labels of a folder most likely wrong: out-of-fold models read every image and the
    misreads they find far likelier than their label come first (CSV and gallery)."""
    from captcha_cli.training.runs import parse_duration

    if arch not in ARCH_PRESETS:
        raise typer.BadParameter(f"choose one of {', '.join(ARCH_PRESETS)}", param_hint="--arch")
    config = train_config_for(
        arch,
        batch_size=batch_size,
        seed=seed,
        max_steps=max_steps,
        time_budget_s=parse_duration(time_budget),
    )
    runtime.import_tensorflow()
    from captcha_cli.training.screening import ScreenRequest, screen_folder

    request = ScreenRequest(
        data=data,
        config=config,
        arch=arch,
        folds=folds,
        label_pattern=label_pattern,
        ignore_case=ignore_case,
        skip_invalid=skip_invalid,
        project=project,
        name=name,
        command=command_line(ctx),
    )
    result = screen_folder(request, ui.training_reporter(not (quiet or json_output)))
    if json_output:
        ui.print_json(result)
    else:
        ui.render_screen(result)
