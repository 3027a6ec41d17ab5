"""The shared data-loading workflow: audit a folder, stop or skip on problems, split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from captcha_cli.data.datasets import Audit, Problem, Sample, audit_folder, cross_duplicates, split
from captcha_cli.errors import DatasetError


@dataclass
class LabelledData:
    """Audited samples ready for training or evaluation, and what was left out."""

    audit: Audit
    train: list[Sample]
    val: list[Sample]
    skipped: list[Problem]


def check_problems(audit: Audit, skip_invalid: bool) -> list[Problem]:
    """Stop with a problems table, or (with skip_invalid) return what is left out."""
    if audit.problems and not skip_invalid:
        count = len(audit.problems)
        raise DatasetError(
            f"{audit.root}: {count} invalid file{'s' if count != 1 else ''}; nothing was trained",
            hint="fix them, or pass --skip-invalid to leave them out",
            rows=audit.problem_rows(),
        )
    if not audit.samples:
        raise DatasetError(f"{audit.root}: no usable labelled images")
    return list(audit.problems)


def load_labelled(
    source: Path,
    charset: str | None,
    max_length: int | None,
    label_pattern: str | None,
    ignore_case: bool,
    skip_invalid: bool,
    val_fraction: float,
    seed: int,
    val_source: Path | None = None,
) -> LabelledData:
    """Audit `source` (and `val_source`), then split deterministically unless a validation folder is given."""
    audit = audit_folder(source, charset, max_length, label_pattern, ignore_case)
    skipped = check_problems(audit, skip_invalid)
    if val_source is None:
        train, val = split(audit.samples, val_fraction, seed)
        return LabelledData(audit, train, val, skipped)
    val_audit = audit_folder(val_source, charset, max_length, label_pattern, ignore_case)
    val_audit.problems.extend(cross_duplicates(audit.samples, val_audit.samples))
    dupes = {p.path for p in val_audit.problems}
    val_audit.samples = [s for s in val_audit.samples if s.path not in dupes]
    skipped += check_problems(val_audit, skip_invalid)
    return LabelledData(audit, audit.samples, val_audit.samples, skipped)
