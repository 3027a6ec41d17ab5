"""`captcha screen`: wrong labels in a training folder, found by models that never saw them.

A model ranks the labels of its own training images poorly: it has learnt them, wrong ones
included. So the folder is cut into `folds` parts by content hash; for each part a model trains
on the others (`captcha train`'s own workflow) and reads that part, and its misreads are ranked
as `captcha evaluate --suspects` ranks them (ln P(reading) - ln P(label)). Every image is read
once, by a model that did not train on it. Each part's training and held-out folders are links
to the user's files with a `labels.csv`, so nothing of theirs is moved or written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captcha_cli.atomic import atomic_write
from captcha_cli.charset import compact_charset
from captcha_cli.data.datasets import Sample, audit_folder
from captcha_cli.data.labelled import check_problems
from captcha_cli.errors import DatasetError
from captcha_cli.inference.evaluation import evaluate_folder
from captcha_cli.inference.readers import open_reader
from captcha_cli.inference.suspects import report_suspects, suspects_of
from captcha_cli.reporting import Reporter
from captcha_cli.spec import TrainConfig
from captcha_cli.training.request import DataOptions, TrainRequest
from captcha_cli.training.runs import next_run_dir
from captcha_cli.training.trainer import run_training


@dataclass
class ScreenRequest:
    """What `captcha screen` was asked to do; `config` trains each part's model."""

    data: Path
    config: TrainConfig
    arch: str = "small"
    folds: int = 2
    label_pattern: str | None = None
    ignore_case: bool = False
    skip_invalid: bool = False
    project: Path = Path("runs")
    name: str | None = None
    command: list[str] = field(default_factory=list)


def fold_of(sample: Sample, folds: int) -> int:
    """The part an image falls in, from its content hash (which the audit gives every sample): the
    same on every run and machine, and identical images fall in the same part."""
    return int(sample.digest[:8], 16) % folds


def charset_option(labels: list[str]) -> str:
    """`--charset` for every character the labels use, so each part's model can read all of them
    (a `-` goes last, where it is literal)."""
    chars = "".join(sorted(set("".join(labels)) - {"-"}))
    return (compact_charset(chars) if chars else "") + ("-" if any("-" in label for label in labels) else "")


def link_folder(folder: Path, samples: list[Sample]) -> dict[str, str]:
    """`folder` holding a link to each sample's file and a labels.csv; returns link -> file."""
    folder.mkdir(parents=True)
    links: dict[str, str] = {}
    rows = []
    for index, sample in enumerate(samples):
        link = folder / f"{index:06d}{sample.path.suffix.lower()}"
        link.symlink_to(sample.path.resolve())
        links[str(link)] = str(sample.path)
        rows.append((link.name, sample.label))
    with atomic_write(folder / "labels.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label"])
        writer.writerows(rows)
    return links


def screen_folder(request: ScreenRequest, reporter: Reporter) -> dict[str, Any]:
    """Train one model per part, read each part with the model that left it out, and write every
    misread ranked as a suspect (CSV and gallery) into the screen's folder."""
    if request.folds < 2:
        raise DatasetError(f"--folds must be at least 2 (a model must leave each image out). Received: {request.folds}")
    audit = audit_folder(request.data, None, None, request.label_pattern, request.ignore_case)
    skipped = check_problems(audit, request.skip_invalid)
    samples = audit.samples
    parts = [[s for s in samples if fold_of(s, request.folds) == i] for i in range(request.folds)]
    if min(len(part) for part in parts) < 2:
        raise DatasetError(f"{request.data}: {len(samples)} images are too few for {request.folds} parts")
    screen_dir = next_run_dir(request.project, request.name, prefix="screen")
    charset = charset_option([s.label for s in samples])
    max_length = max(len(s.label) for s in samples)
    suspects: list[dict] = []
    folds = []
    for index, held in enumerate(parts):
        part_dir = screen_dir / f"part-{index + 1}"
        training = [s for other, part in enumerate(parts) if other != index for s in part]
        link_folder(part_dir / "train", training)
        links = link_folder(part_dir / "held-out", held)
        reporter.info(f"Part {index + 1} of {request.folds}: training on {len(training):,}, reading {len(held):,}")
        trained = run_training(
            TrainRequest(
                config=request.config,
                data=DataOptions(data=part_dir / "train", ignore_case=request.ignore_case),
                arch=request.arch,
                charset=charset,
                max_length=max_length,
                project=part_dir,
                name="run",
                command=request.command,
            ),
            reporter,
        )
        reader = open_reader(trained.run_dir / "last.keras")
        scores = evaluate_folder(reader, part_dir / "held-out", reporter)
        ranked = suspects_of(reader, scores["errors"])
        suspects += [{**s, "path": links[s["path"]], "part": index + 1} for s in ranked]
        folds.append(
            {
                "part": index + 1,
                "train": len(training),
                "held_out": len(held),
                "steps": trained.step,
                "full_string_accuracy": scores["full_string_accuracy"],
                "misreads": len(ranked),
            }
        )
    suspects.sort(key=lambda s: -s["margin"])
    report = report_suspects(suspects, screen_dir / "suspects.csv")
    return {
        "screen_dir": str(screen_dir),
        "data": str(request.data),
        "images": len(samples),
        "skipped": len(skipped),
        "parts": folds,
        "suspects": report,
    }
