"""The `predict` workflow: the images named by files, folders or globs, read by a model, one row
each (text, confidence, rejection, and the arithmetic answer where asked)."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captcha_cli.data.arithmetic import ExpressionError, solve
from captcha_cli.data.datasets import ImageScan, refuse_empty, scan_images
from captcha_cli.errors import CaptchaError
from captcha_cli.model.decoding import Constraint
from captcha_cli.reporting import Reporter

ANSWERS = ("text", "arithmetic")


@dataclass
class PredictionReport:
    """One row per image read, and one line for each that could not be read or answered."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return sum(row["rejected"] for row in self.rows)


def expand_inputs(inputs: list[str]) -> ImageScan:
    """Files as given, folders searched recursively, glob patterns expanded (for quoted globs); a
    folder without images is an error, and what a folder search could not look at is kept as problems."""
    found = ImageScan([], [])
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            scan = scan_images(path)
            refuse_empty(item, scan)
            found.paths.extend(scan.paths)
            found.problems.extend(scan.problems)
        elif not path.exists() and any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                raise CaptchaError(f"{item}: no files match this pattern")
            found.paths.extend(m for m in matches if m.is_file())
        else:
            found.paths.append(path)
    return found


def predict_paths(
    reader,
    found: ImageScan,
    reporter: Reporter,
    batch_size: int = 64,
    constraint: Constraint | None = None,
    min_confidence: float = 0.0,
    probs: bool = False,
    answer: str = "text",
) -> PredictionReport:
    """Read every image `found` holds; what a folder search could not look at, files that do not
    decode and (with `answer="arithmetic"`) readings that are not expressions become failures."""
    if answer not in ANSWERS:
        raise CaptchaError(f"--answer: choose one of {', '.join(ANSWERS)}. Received: {answer!r}")
    if constraint is not None:
        constraint.allowed_classes(reader.spec)  # refuses a constraint this model cannot meet, before reading
    report = PredictionReport(failures=[f"{p.path}: {p.kind} ({p.detail})" for p in found.problems])
    with reporter.progress("Reading", len(found.paths)) as bar:
        predictions = reader.read_files(
            found.paths, batch_size, bar.advance, lambda exc: report.failures.append(exc.message), constraint
        )
    for p in predictions:
        row = {"path": p.path, "text": p.text, "confidence": p.confidence, "rejected": p.confidence < min_confidence}
        if probs:
            row["probs"] = p.position_probs
        if answer == "arithmetic":
            try:
                row["answer"] = solve(p.text)
            except ExpressionError as exc:
                row["answer"] = None
                report.failures.append(f"{p.path}: {exc.message}")
        report.rows.append(row)
    return report
