"""What every check module builds on: `Check`, one verified claim, and the helpers that make one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
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
