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
    from captcha_cli.datasets import audit_folder
    from captcha_cli.decoding import Constraint
    from captcha_cli.evaluation import error_grid, reliability_diagram, score
    from captcha_cli.labelled import check_problems

    constraint = Constraint.parse(charset, length, ignore_case)
    reader = open_model_reader(model, project, quiet)
    spec = reader.spec
    constraint.allowed_classes(spec)
    audit = audit_folder(data, spec.charset, spec.max_length, label_pattern, ignore_case)
    skipped = check_problems(audit, skip_invalid)
    show = not (quiet or json_output)
    with ui.ProgressBar("Evaluating", len(audit.samples), enabled=show) as bar:
        predictions = reader.read_files([s.path for s in audit.samples], batch_size, bar.advance, None, constraint)
    result = {
        "model": str(reader.path),
        "data": str(data),
        "skipped": len(skipped),
        "calibrated": bool(spec.calibration),
        **score(audit.samples, predictions, ignore_case),
    }
    if calibration is not None:
        reliability_diagram(result["calibration"]["bins"], result["calibration"]["ece"], calibration)
        result["calibration"]["diagram"] = str(calibration)
    if suspects is not None:
        from captcha_cli.suspects import report_suspects

        result["suspects"] = report_suspects(reader, result["errors"], suspects)
    if errors is not None:
        result["error_grid"] = {"path": str(errors), "shown": error_grid(result["errors"], errors)}
    if json_output:
        ui.print_json(result)
    else:
        ui.render_evaluation(result)
