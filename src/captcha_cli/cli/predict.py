"""`captcha predict`: read captchas from image files, folders or globs."""

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
    ProjectOpt,
    QuietOpt,
    handle_errors,
    open_model_reader,
)


@handle_errors
def predict(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="A .keras file, a run folder, or a TFLite or ONNX export (fast start, no TensorFlow)."
        ),
    ] = None,
    json_output: JsonOpt = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV: path,text,confidence,status.")] = False,
    probs: Annotated[bool, typer.Option("--probs", help="Include per-position probabilities (JSON/CSV).")] = False,
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", min=0.0, max=1.0, help="Mark predictions below this as rejected.")
    ] = 0.0,
    charset: AnswerCharsetOpt = None,
    length: AnswerLengthOpt = None,
    ignore_case: AnswerIgnoreCaseOpt = False,
    answer: Annotated[
        str,
        typer.Option("--answer", help="text (what it reads) or arithmetic (what 12+3=? comes to)."),
    ] = "text",
    batch_size: BatchSizeOpt = 64,
    project: ProjectOpt = Path("runs"),
    quiet: QuietOpt = False,
) -> None:
    """Read the text of captcha images. One image prints just its text, for shell scripts."""
    from captcha_cli.inference.prediction import ANSWERS, expand_inputs, predict_paths
    from captcha_cli.model.decoding import Constraint

    if answer not in ANSWERS:
        raise typer.BadParameter(f"choose one of {', '.join(ANSWERS)}", param_hint="--answer")
    constraint = Constraint.parse(charset, length, ignore_case)
    found = expand_inputs(inputs)
    reader = open_model_reader(model, project, quiet)
    show_progress = len(found.paths) > batch_size and not (quiet or json_output or csv_output)
    report = predict_paths(
        reader, found, ui.ConsoleReporter(show_progress), batch_size, constraint, min_confidence, probs, answer
    )
    for message in report.failures:
        ui.error(message)
    rows = report.rows
    if json_output:
        ui.print_json(rows)
    elif csv_output:
        ui.print_csv(rows, probs)
    elif len(found.paths) == 1 and rows:
        shown = rows[0].get("answer", rows[0]["text"])
        ui.print_text("" if rows[0]["rejected"] or shown is None else str(shown))
    elif rows:
        ui.render_predictions(rows)
    if min_confidence > 0 and not quiet:
        ui.info(f"{report.rejected} of {len(rows)} predictions rejected (confidence < {min_confidence:g})")
    if report.failures:
        raise typer.Exit(1)
