"""`captcha export`: write a trained model in a portable format (SavedModel, TFLite or ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import runtime, ui
from captcha_cli.cli.common import JsonOpt, handle_errors


@handle_errors
def export(
    model: Annotated[Path, typer.Argument(help="A .keras model file or a run folder.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="savedmodel, tflite or onnx (needs the onnx extra).")
    ] = "savedmodel",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: beside the model).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Export a model for serving, with its spec (captcha.spec.json) beside it."""
    runtime.import_tensorflow()
    from captcha_cli.inference.export import export_model
    from captcha_cli.model.modelio import resolve_model_path

    resolved = resolve_model_path(model)
    target = out or resolved.with_name(f"{resolved.stem}-{fmt}")
    with ui.status(f"Exporting {resolved} as {fmt}..."):
        result = export_model(resolved, fmt, target, overwrite)
    if json_output:
        ui.print_json(result)
    else:
        ui.info(f"Exported {result['model']} as {fmt} to {result['out']} ({result['bytes'] / 2**20:.1f} MiB)")
