"""Shared fixtures: a stable terminal, a CLI runner, tiny specs and models built once per pytest run."""

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
    from captcha_cli.model.network import build_model

    return build_model(ModelSpec())


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    """64 labelled 4-digit captchas (simple style), shared by training and prediction tests."""
    from captcha_cli.data.synthetic import generate_folder

    out = tmp_path_factory.mktemp("digits")
    generate_folder(out, 64, "simple", "0123456789", (4,), 200, 60, seed=11)
    return out


TINY_TRAIN = [
    "--arch",
    "tiny",
    "--height",
    "32",
    "--width",
    "64",
    "--batch-size",
    "8",
    "--charset",
    "0-9",
    "--max-length",
    "4",
    "--precision",
    "float32",
    "--quiet",
]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, digits_dir):
    """One short training run through the CLI: 24 steps, validating every 6, saving every 5."""
    from typer.testing import CliRunner

    from captcha_cli.cli.app import app

    project = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(digits_dir),
            *TINY_TRAIN,
            "--max-steps",
            "24",
            "--val-every",
            "6",
            "--save-every",
            "5",
            "--keep",
            "2",
            "--project",
            str(project),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return project / "exp", result
