"""What fixing the labels `captcha screen` lists is worth: the same training on a folder and on
the folder with every listed suspect relabelled as the model read it, scored on one test folder.

For a set whose images were checked by eye in the suspects gallery (the review a user makes), it
writes a folder of links to TRAIN with a labels.csv holding the corrected labels, then runs
`captcha train DIR --arch small --time T` on the original and on the cleaned folder, one after the
other, and `captcha evaluate TEST --model RUN --json` on each.

Usage: python benchmarks/cleaned_retrain.py TRAIN TEST SUSPECTS.csv [--time 10m] [--project benchmarks/runs]
       [--top N]   (relabel only the N most suspect; default all)
Prints one Markdown table and one JSON line, with the machine, date and commit.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from datetime import date
from pathlib import Path

from machine import commit, cpu_name
from outside_sets import print_scores, score, train

from captcha_cli.data.datasets import audit_folder
from captcha_cli.training.screening import link_folder


def cleaned_folder(source: Path, suspects: Path, target: Path, top: int | None) -> int:
    """Links to every image of `source` and a labels.csv (as `captcha screen` writes its parts)
    with the suspects' readings as labels; returns how many labels changed."""
    with suspects.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:top]
    fixed = {str(Path(r["path"]).resolve()): r["reading"] for r in rows}
    samples = audit_folder(source).samples
    cleaned = [dataclasses.replace(s, label=fixed.get(str(s.path.resolve()), s.label)) for s in samples]
    link_folder(target, cleaned)
    return sum(a.label != b.label for a, b in zip(samples, cleaned, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("suspects", type=Path)
    parser.add_argument("--time", default="10m")
    parser.add_argument("--project", type=Path, default=Path("benchmarks/runs"))
    parser.add_argument("--top", type=int, default=None)
    args = parser.parse_args()
    stamp = date.today().isoformat()
    cleaned = args.project / f"cleaned-{stamp}"
    changed = cleaned_folder(args.train, args.suspects, cleaned / "train", args.top)
    results = {}
    for name, folder in (("as labelled", args.train), (f"{changed} labels fixed", cleaned / "train")):
        run_name = f"retrain-{stamp}-{'cleaned' if folder != args.train else 'original'}"
        command = train(folder, args.time, args.project, run_name)
        results[name] = {**score(args.project / run_name, args.test), "command": " ".join(command)}
    print_scores(f"{cpu_name()}, {stamp}, commit {commit()}", "training folder", results)


if __name__ == "__main__":
    main()
