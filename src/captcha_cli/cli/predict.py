"""`captcha predict`: read captchas from image files, folders or globs."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from captcha_cli.errors import CaptchaError

if TYPE_CHECKING:
    from captcha_cli.datasets import ImageScan


def expand_inputs(inputs: list[str]) -> ImageScan:
    """Files as given, folders searched recursively, glob patterns expanded (for quoted globs); a
    folder without images is an error, and what a folder search could not look at is kept as problems."""
    from captcha_cli.datasets import ImageScan, refuse_empty, scan_images

    found = ImageScan([], [])
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            scan = scan_images(path)
            refuse_empty(item, scan)
            found.paths.extend(scan.paths)
            found.problems.extend(scan.problems)
        elif not path.exists() and any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                raise CaptchaError(f"{item}: no files match this pattern")
            found.paths.extend(m for m in matches if m.is_file())
        else:
            found.paths.append(path)
    return found


ANSWERS = ("text", "arithmetic")


def _solved(row: dict, failures: list[str]) -> int | None:
    """The result of the expression a row reads, or None with the reason reported."""
    from captcha_cli.arithmetic import ExpressionError, solve

    try:
        return solve(row["text"])
    except ExpressionError as exc:
        message = f"{row['path']}: {exc.message}"
        failures.append(message)
        ui.error(message)
        return None


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
    from captcha_cli.decoding import Constraint

    if answer not in ANSWERS:
        raise typer.BadParameter(f"choose one of {', '.join(ANSWERS)}", param_hint="--answer")
    constraint = Constraint.parse(charset, length, ignore_case)
    found = expand_inputs(inputs)
    paths = found.paths
    reader = open_model_reader(model, project, quiet)
    constraint.allowed_classes(reader.spec)  # refuses a constraint this model cannot meet, before reading
    failures = [f"{p.path}: {p.kind} ({p.detail})" for p in found.problems]
    for message in failures:
        ui.error(message)

    def on_error(exc: CaptchaError) -> None:
        failures.append(exc.message)
        ui.error(exc.message)

    show_progress = len(paths) > batch_size and not (quiet or json_output or csv_output)
    with ui.ProgressBar("Reading", len(paths), enabled=show_progress) as bar:
        predictions = reader.read_files(paths, batch_size, bar.advance, on_error, constraint)
    rows = [
        {
            "path": p.path,
            "text": p.text,
            "confidence": p.confidence,
            "rejected": p.confidence < min_confidence,
            **({"probs": p.position_probs} if probs else {}),
        }
        for p in predictions
    ]
    if answer == "arithmetic":
        for row in rows:
            row["answer"] = _solved(row, failures)
    rejected = sum(r["rejected"] for r in rows)
    if json_output:
        ui.print_json(rows)
    elif csv_output:
        ui.print_csv(rows, probs)
    elif len(paths) == 1 and rows:
        shown = rows[0].get("answer", rows[0]["text"])
        ui.print_text("" if rows[0]["rejected"] or shown is None else str(shown))
    elif rows:
        ui.render_predictions(rows)
    if min_confidence > 0 and not quiet:
        ui.info(f"{rejected} of {len(rows)} predictions rejected (confidence < {min_confidence:g})")
    if failures:
        raise typer.Exit(1)
