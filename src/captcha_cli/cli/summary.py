"""`captcha summary`: describe a model (parameters, size, shapes, MACs per part)."""

from __future__ import annotations

from captcha_cli import runtime, ui
from captcha_cli.cli.common import (
    ArchOpt,
    CharsetOpt,
    HeightOpt,
    JsonOpt,
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
    json_output: JsonOpt = False,
) -> None:
    """Describe a model: parameters and MACs per part, totals, float32 size and shapes."""
    from captcha_cli.spec import spec_for_arch

    spec = None if model else spec_for_arch(arch, **spec_overrides(charset, max_length, height, width))
    runtime.import_tensorflow()
    from captcha_cli.describe import model_report

    with ui.status("Building the model..."):
        report = model_report(spec=spec, model_path=model)
    if json_output:
        ui.print_json(report)
    else:
        ui.render_model_summary(report)
