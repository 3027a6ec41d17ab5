"""The CLI shell: help, version, light start-up, error handling."""

from __future__ import annotations

import subprocess
import sys

import pytest

from captcha_cli import __version__
from captcha_cli.cli.app import app
from captcha_cli.errors import SpecError
from tests.helpers import invoke, run_in_fresh_process

COMMANDS = [c.name for c in app.registered_commands]


def test_help_lists_every_command(runner) -> None:
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    for name in ("summary", "verify"):
        assert name in COMMANDS
    for name in COMMANDS:
        assert name in result.output


def test_short_help_flag(runner) -> None:
    assert invoke(runner, "-h").output == invoke(runner, "--help").output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner, command: str) -> None:
    result = invoke(runner, command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert app.registered_commands[COMMANDS.index(command)].callback.__doc__


def test_version(runner) -> None:
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"captcha-cli {__version__}"


def test_unknown_option_is_usage_error(runner) -> None:
    result = invoke(runner, "summary", "--no-such-option")
    assert result.exit_code == 2


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["summary", "--help"], ["verify", "--nope"]])
def test_help_and_usage_errors_do_not_import_tensorflow(argv: list[str]) -> None:
    _, loaded = run_in_fresh_process(argv, ("tensorflow", "keras", "cv2"))
    assert loaded == []


@pytest.mark.slow
def test_tensorflow_noise_hidden_by_default() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "captcha_cli", "summary", "--arch", "small", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "oneDNN" not in out.stderr and "cuda" not in out.stderr.lower()
    assert out.stderr == ""


def test_bad_spec_is_one_line_error_without_traceback(runner) -> None:
    result = invoke(runner, "summary", "--max-length", "0")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == ("Error: max_length must be a positive integer. Received: max_length=0")
    assert "Traceback" not in result.output


def test_debug_shows_traceback(runner) -> None:
    result = invoke(runner, "--debug", "summary", "--max-length", "0")
    assert result.exit_code == 1
    # the error itself propagates (a plain exit would be SystemExit): the traceback is printed
    assert isinstance(result.exception, SpecError) and not isinstance(result.exception, SystemExit)
    assert "max_length must be a positive integer" in str(result.exception)


def test_messages_print_brackets_as_written(runner, tmp_path) -> None:
    """Paths and hints are text, not rich markup: `[b]` stays and a stray `[/x]` does not crash."""
    folder = tmp_path / "shots[b]" / "[/x]"
    result = invoke(runner, "summary", "--data", folder)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[0] == f"Error: {folder}: no such folder"
