"""Small helpers shared by tests."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import Result

from captcha_cli.cli.app import app


def invoke(runner, *args: str) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def invoke_json(runner, *args: str, exit_code: int = 0) -> Any:
    result = invoke(runner, *args, "--json")
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def run_in_fresh_process(argv: list[str], modules: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run the CLI in a new interpreter; returns its stdout and which of `modules` it imported."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from captcha_cli.cli.app import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('\\nLOADED=' + ','.join(m for m in {modules!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    stdout, _, loaded = out.stdout.rpartition("\nLOADED=")
    assert out.returncode == 0, out.stderr
    return stdout, [m for m in loaded.strip().split(",") if m]
