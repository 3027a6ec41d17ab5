"""`captcha summary`: describe a model (parameters, size, shapes, MACs per part) or a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import runtime, ui
from captcha_cli.cli.common import (
    ArchOpt,
    CharsetOpt,
    HeightOpt,
    IgnoreCaseOpt,
    JsonOpt,
    LabelPatternOpt,
    MaxLengthOpt,
    ModelOpt,
    WidthOpt,
    handle_errors,
    spec_overrides,
)


@handle_errors
def summary(
    arch: ArchOpt = "resnet34",
    charset: CharsetOpt = None,
    max_length: MaxLengthOpt = None,
    height: HeightOpt = None,
    width: WidthOpt = None,
    model: ModelOpt = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Audit a labelled dataset folder instead (no training).")
    ] = None,
    label_pattern: LabelPatternOpt = None,
    ignore_case: IgnoreCaseOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Describe a model (parameters and MACs per part, size, shapes) or audit a dataset (--data)."""
    if data is not None:
        _dataset_summary(data, arch, charset, max_length, label_pattern, ignore_case, json_output, height, width)
        return
    from captcha_cli.spec import spec_for_arch

    spec = None if model else spec_for_arch(arch, **spec_overrides(charset, max_length, height, width))
    runtime.import_tensorflow()
    from captcha_cli.model.describe import model_report

    with ui.status("Building the model..."):
        report = model_report(spec=spec, model_path=model)
    if json_output:
        ui.print_json(report)
    else:
        ui.render_model_summary(report)


def _dataset_summary(
    data: Path,
    arch: str,
    charset: str | None,
    max_length: int | None,
    label_pattern: str | None,
    ignore_case: bool,
    json_output: bool,
    height: int | None,
    width: int | None,
) -> None:
    from captcha_cli.charset import parse_charset
    from captcha_cli.data.datasets import audit_folder
    from captcha_cli.data.geometry import spec_for_data

    chars = parse_charset(charset) if charset else None
    with ui.status("Auditing the dataset..."):
        audit = audit_folder(data, chars, max_length, label_pattern, ignore_case)
    stats = audit.stats()
    if audit.samples:  # what `captcha train DATA --arch ARCH` would build for these images
        spec = spec_for_data(arch, audit.samples, chars, max_length, spec_overrides(None, None, height, width))
        stats["model_input"] = {
            "arch": arch,
            "height": spec.height,
            "width": spec.width,
            "time_steps": spec.output_steps if spec.loss == "ctc" else None,
            "max_length": spec.max_length,
        }
    if json_output:
        ui.print_json(stats)
    else:
        ui.render_audit(stats)
