"""The claims `captcha verify` checks; each module of the system contributes its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from captcha_cli.checks.base import Check


def run_verify(model_path: Path | None = None) -> list[Check]:
    """Every check: on the default model, or the architecture checks on a saved model."""
    from captcha_cli.checks import model_checks

    results = model_checks.checks_for(model_path)
    if model_path is None:
        for provider in _default_providers():
            results.extend(provider())
    return results


def _default_providers() -> list[Callable[[], list[Check]]]:
    """Checks of the modules beyond the model, run against the defaults the commands use."""
    from captcha_cli.checks.preprocessing_checks import preprocessing_checks
    from captcha_cli.checks.training_checks import training_checks

    return [preprocessing_checks, training_checks]
