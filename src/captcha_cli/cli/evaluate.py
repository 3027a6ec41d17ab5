"""`captcha evaluate`: measure a model on labelled data, honestly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import ui
from captcha_cli.cli.common import (
    AnswerCharsetOpt,
    AnswerIgnoreCaseOpt,
    AnswerLengthOpt,
    BatchSizeOpt,
    JsonOpt,
    LabelPatternOpt,
    ModelOpt,
    ProjectOpt,
    QuietOpt,
    SkipInvalidOpt,
    handle_errors,
    open_model_reader,
)


@handle_errors
def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled image folder (labels as for training).")],
    model: ModelOpt = None,
    errors: Annotated[
        Path | None, typer.Option("--errors", help="Write a PNG grid of misread images with truth and prediction.")
    ] = None,
    suspects: Annotated[
        Path | None,
        typer.Option(
            "--suspects",
            help="Write a CSV of the misread images ranked by how much likelier the model finds its reading "
            "than the label (wrong labels first), and a gallery PNG beside it.",
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option("--calibration", help="Write a PNG reliability diagram: accuracy against confidence, 15 bins."),
    ] = None,
    label_pattern: LabelPatternOpt = None,
    charset: AnswerCharsetOpt = None,
    length: AnswerLengthOpt = None,
    ignore_case: AnswerIgnoreCaseOpt = False,
    skip_invalid: SkipInvalidOpt = False,
    batch_size: BatchSizeOpt = 64,
    project: ProjectOpt = Path("runs"),
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Full-string and per-character accuracy, CER, per length, confusions, accuracy vs confidence,
    calibration error."""
    from captcha_cli.inference.evaluation import evaluate_folder
    from captcha_cli.model.decoding import Constraint

    constraint = Constraint.parse(charset, length, ignore_case)
    reader = open_model_reader(model, project, quiet)
    reporter = ui.ConsoleReporter(not (quiet or json_output))
    result = evaluate_folder(
        reader, data, reporter, label_pattern, constraint, skip_invalid, batch_size, errors, suspects, calibration
    )
    if json_output:
        ui.print_json(result)
    else:
        ui.render_evaluation(result)
