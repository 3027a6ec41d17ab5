"""The claims `captcha verify` checks; each module of the system contributes its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Check:
    """One verified claim: what the report says, what the code really does, and the verdict."""

    name: str
    claim: str
    found: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(name: str, claim: str, found: Any, passed: bool) -> Check:
    return Check(name=name, claim=claim, found=str(found), passed=bool(passed))


def guarded(name: str, claim: str, probe: Callable[[], Check]) -> Check:
    """Run one probe; a probe that crashes is a failed check, not a crashed verify."""
    try:
        return probe()
    except Exception as exc:  # any crash is a finding about the code under check
        return check(name, claim, f"error: {type(exc).__name__}: {exc}", False)


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
