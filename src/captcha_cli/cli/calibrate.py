"""`captcha calibrate`: fit a model's confidence map again and store it in its spec."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import runtime, ui
from captcha_cli.cli.common import JsonOpt, handle_errors


@handle_errors
def calibrate(
    model: Annotated[Path, typer.Argument(help="A run folder (its best.keras and last.keras) or a .keras file.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Labelled images to fit on (default: the run's own validation split)."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Fit the map from raw confidence to the chance of being right, for models saved without one
    or for other captchas of the same site; `captcha train` fits it itself."""
    runtime.import_tensorflow()
    from captcha_cli.inference.calibrate_job import calibrate as fit

    with ui.status(f"Calibrating {model}..."):
        results = fit(model, data)
    if json_output:
        ui.print_json(results)
        return
    for r in results:
        a, b = r["calibration"]
        ui.info(
            f"{r['model']}: fitted on {r['images']:,} images ({r['full_string_accuracy']:.1%} right): "
            f"confidence = sigmoid({a:.3f} x ln(raw) + {b:.3f}); ECE {r['ece_before']:.3f} -> {r['ece_after']:.3f}"
        )
