"""Shared fixtures: a stable terminal, a CLI runner, tiny specs and models built once per session."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from captcha_cli import runtime
from captcha_cli.spec import ModelSpec

TINY = dict(
    arch="tiny",
    height=32,
    width=64,
    charset="0123456789",
    max_length=4,
    stem_filters=8,
    stage_blocks=(2, 1, 1, 1),
    stage_filters=(8, 8, 16, 16),
    lstm_units=8,
    fc_units=16,
)


@pytest.fixture(autouse=True)
def stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain, fixed-width output so assertions on text hold in CI."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERMINAL_WIDTH", "200")
    monkeypatch.setenv("_TYPER_FORCE_DISABLE_TERMINAL", "1")


@pytest.fixture(scope="session", autouse=True)
def quiet_tf() -> None:
    runtime.set_debug(False)
    runtime.import_tensorflow()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def tiny_spec() -> ModelSpec:
    return ModelSpec(**TINY)


@pytest.fixture(scope="session")
def default_model():
    """The report's full ResNet-34, built once."""
    from captcha_cli.model import build_model

    return build_model(ModelSpec())
