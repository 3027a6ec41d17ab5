"""docs/CLI.md is generated from the code with typer-cli; this test fails when it is stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "CLI.md"
REGENERATE = "python -m typer captcha_cli.cli.app utils docs --name captcha --output docs/CLI.md"


def test_cli_reference_is_current(tmp_path) -> None:
    fresh = tmp_path / "CLI.md"
    command = [sys.executable, "-m", "typer", "captcha_cli.cli.app", "utils", "docs", "--name", "captcha"]
    subprocess.run([*command, "--output", str(fresh)], check=True, capture_output=True)
    assert fresh.read_text(encoding="utf-8") == REFERENCE.read_text(encoding="utf-8"), (
        f"docs/CLI.md is stale; regenerate it with: {REGENERATE}"
    )
