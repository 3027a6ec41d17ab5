"""`captcha verify`: check every claim of the report against the real code."""

from __future__ import annotations

import typer

from captcha_cli import runtime, ui
from captcha_cli.cli.common import JsonOpt, ModelOpt, handle_errors


@handle_errors
def verify(model: ModelOpt = None, json_output: JsonOpt = False) -> None:
    """Check the report's claims (architecture, Dropout, preprocessing, training defaults).

    Exits 0 when every check passes, 1 when any fails.
    """
    runtime.import_tensorflow()
    from captcha_cli.checks import run_verify

    with ui.status("Building the model and running the checks..."):
        checks = run_verify(model)
    failed = sum(not c.passed for c in checks)
    if json_output:
        ui.print_json({"checks": [c.to_dict() for c in checks], "passed": len(checks) - failed, "failed": failed})
    else:
        ui.render_checks(checks)
    if failed:
        raise typer.Exit(1)
