"""What `--unlabelled` is worth: at one time budget, `captcha train` on N labelled captchas alone,
on the same N with the rest of the training part as `--unlabelled`, and on the whole training
part labelled; each scored with `captcha evaluate` on a test folder never trained on or validated.

The N labelled captchas are the first N of the training part in a seeded shuffle (seed 0), linked
into a folder with a labels.csv; the rest are linked into a folder under names that carry no label.
`seedgen` tests on the last 1,000 of `seedgen-train` by content hash and trains on the rest, as
`outside_sets.py` does (its figures of 2026-12-03 were on the last 1,000 by name); `henan-digits`
tests on its test split (all of it: see its README).

Usage: python benchmarks/semi_supervised.py [--sets henan-digits,seedgen] [--labelled 1000,500]
       [--time 5m] [--modes full,labelled,unlabelled] [--unlabelled-options "--unlabelled-share 0.25"]
       [--data ../shared/data] [--project benchmarks/runs]
Prints one Markdown table and one JSON line, with the machine, date and commit; each result is also
written to --project as it comes (semi-supervised-DATE.json), so a cut run keeps what it measured.
The goal's share: (semi - labelled alone) / (fully labelled - labelled alone).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np
from machine import commit, cpu_name
from outside_sets import print_scores, score, split_by_content, train

from captcha_cli.data.datasets import Sample, audit_folder
from captcha_cli.training.screening import link_folder

SETS = {"henan-digits": ("henan-digits/train", "henan-digits/test"), "seedgen": ("seedgen-train", None)}


def unlabelled_folder(folder: Path, samples: list[Sample]) -> None:
    """Links to the samples' files under names that say nothing of their labels, and no labels file."""
    folder.mkdir(parents=True)
    for index, sample in enumerate(samples):
        (folder / f"u{index:06d}{sample.path.suffix.lower()}").symlink_to(sample.path.resolve())


def parts(train_dir: Path, labelled: int, folder: Path) -> tuple[Path, Path]:
    """The labelled and unlabelled folders of one split (made once)."""
    labelled_dir, unlabelled_dir = folder / "labelled", folder / "unlabelled"
    if not labelled_dir.exists():
        samples = audit_folder(train_dir).samples
        order = np.random.default_rng(0).permutation(len(samples))
        link_folder(labelled_dir, [samples[i] for i in order[:labelled]])
        unlabelled_folder(unlabelled_dir, [samples[i] for i in order[labelled:]])
    return labelled_dir, unlabelled_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--labelled", default="1000,500")
    parser.add_argument("--time", default="5m")
    parser.add_argument("--modes", default="full,labelled,unlabelled")
    parser.add_argument("--unlabelled-options", default="", help="more `captcha train` options, --unlabelled runs")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--project", type=Path, default=Path("benchmarks/runs"))
    args = parser.parse_args()
    stamp = date.today().isoformat()
    log = args.project / f"semi-supervised-{stamp}.json"
    results = json.loads(log.read_text()) if log.is_file() else {}
    modes = args.modes.split(",")
    for name in args.sets.split(","):
        train_part, test_part = SETS[name]
        if test_part is None:
            train_dir, test_dir = split_by_content(args.data / train_part, args.project / f"{name}-split")
        else:
            train_dir, test_dir = args.data / train_part, args.data / test_part
        runs = [("full", train_dir, ())] if "full" in modes else []
        for count in map(int, args.labelled.split(",")):
            labelled_dir, unlabelled_dir = parts(train_dir, count, args.project / f"{name}-{count}-labelled")
            if "labelled" in modes:
                runs.append((f"{count} labelled", labelled_dir, ()))
            if "unlabelled" in modes:
                more = args.unlabelled_options.split()
                mode = f"{count} labelled + unlabelled" + (f" {args.unlabelled_options}" if more else "")
                runs.append((mode, labelled_dir, ("--unlabelled", str(unlabelled_dir), *more)))
        for mode, folder, extra in runs:
            run = f"semi-{stamp}-{name}-" + "-".join(mode.replace("+", "and").replace("--", "").split())
            command = train(folder, args.time, args.project, run, *extra)
            results[f"{name}: {mode}"] = {**score(args.project / run, test_dir), "command": " ".join(command)}
            log.write_text(json.dumps(results, indent=1))
    print_scores(f"{cpu_name()}, {stamp}, commit {commit()}, --time {args.time}", "set: training data", results)


if __name__ == "__main__":
    main()
