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
