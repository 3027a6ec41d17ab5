"""The recommended preset on captchas the tool did not draw: the exact commands of the outside-data
goals, one run per set, scored on images never used for training or for choosing a checkpoint.

For each set it runs `captcha train TRAIN --arch small --time T` (nothing else; the preset chooses
the input size and time steps from the data), then `captcha evaluate TEST --model RUN --json`, and
prints one Markdown table (full-string and character accuracy, by length, steps reached, images/s,
the chosen input) with the machine, date and commit, plus one JSON line.

Usage: python benchmarks/outside_sets.py [--sets wp-rsc,henan-digits,seedgen,noisy,simple]
       [--data ../shared/data] [--project benchmarks/runs] [--score-only]
       [--out benchmarks/results/outside_sets-MACHINE-DATE.json]

`seedgen` has no test split: the last 1,000 of `seedgen-train` in the order of their contents'
SHA-256 are its test part, the other 7,000 its training part (folders of links made under
--project). `henan-digits` is scored on
every test image (its labels are partly wrong: see ../shared/data/README.md). `noisy` and `simple`
are the built-in styles, the goal's check that they do not fall back: 8,000 of `captcha generate
--style S --seed 0` for training and 1,000 of `--seed 1` for the test, made under --project.
`--score-only` re-scores runs already in --project. `--out` also writes the JSON, with every
misread (truth, reading), to a file: the raw figures RESULTS.md links to.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import statistics
import subprocess
from pathlib import Path

from machine import stamp

from captcha_cli.atomic import write_text_atomic

SETS = {  # name: (train folder, test folder, --time): the goals' commands
    "wp-rsc": ("wp-rsc/train", "wp-rsc/test", "10m"),
    "henan-digits": ("henan-digits/train", "henan-digits/test", "10m"),
    "seedgen": ("seedgen-train", None, "30m"),
}
GENERATED = {"noisy": "30m", "simple": "30m"}  # built-in style: --time, as RESULTS.md's earlier figures
SEEDGEN_TEST = 1000


def generate(style: str, folder: Path) -> tuple[Path, Path]:
    """8,000 captchas of `style` (seed 0) to train on and 1,000 (seed 1) to test on, made once
    (under a temporary name first, so an interrupted run leaves no half-made set)."""
    for part, count, seed in (("train", 8000, 0), ("test", 1000, 1)):
        if (folder / part).is_dir():
            continue
        partial = folder / f".{part}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        command = ["captcha", "generate", str(partial), "--count", str(count), "--style", style, "--seed", str(seed)]
        subprocess.run(command, check=True)
        partial.rename(folder / part)
    return folder / "train", folder / "test"


def split_by_content(source: Path, folder: Path) -> tuple[Path, Path]:
    """Links to the images of `source` in the order of their contents' SHA-256: the last SEEDGEN_TEST
    are the test part, the rest the training part. A content hash draws the test part like the
    training part; the last images by name would be the labels that begin with late lower-case
    letters, a first character the training part never shows."""
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.iterdir() if not p.name.startswith(".")
    }
    names = sorted(digests, key=lambda name: digests[name])
    parts = {"train": names[:-SEEDGEN_TEST], "test": names[-SEEDGEN_TEST:]}
    for part, chosen in parts.items():
        target = folder / part
        target.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            if not (target / name).is_symlink():
                (target / name).symlink_to((source / name).resolve())
    return folder / "train", folder / "test"


def folders(name: str, data: Path, project: Path) -> tuple[Path, Path, str]:
    """The set's training and test folders (made under `project` where the set has none) and --time."""
    if name in GENERATED:
        return (*generate(name, project / f"{name}-generated"), GENERATED[name])
    train_part, test_part, budget = SETS[name]
    if test_part is None:
        return (*split_by_content(data / train_part, project / f"{name}-split"), budget)
    return data / train_part, data / test_part, budget


def train(train_dir: Path, budget: str, project: Path, name: str, *extra: str) -> list[str]:
    """Runs `captcha train TRAIN --arch small --time BUDGET [EXTRA]` into project/name; returns the command."""
    command = ["captcha", "train", str(train_dir), "--arch", "small", "--time", budget, *extra]
    subprocess.run([*command, "--project", str(project), "--name", name], check=True)
    return command


def score(run: Path, test_dir: Path) -> dict:
    out = subprocess.run(
        ["captcha", "evaluate", str(test_dir), "--model", str(run), "--json", "--quiet"],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    spec = json.loads((run / "best.spec.json").read_text())
    return {
        "best_validation": max(float(r["full_string_acc"]) for r in rows),
        "full_string": result["full_string_accuracy"],
        "char": result["char_accuracy"],
        "by_length": {k: v["full_string_accuracy"] for k, v in result["by_length"].items()},
        "images": result["images"],
        "steps": int(float(rows[-1]["step"])),
        "images_per_s": statistics.median(float(r["images_per_s"]) for r in rows),
        "input": f"{spec['width']}x{spec['height']}",
        "errors": [[e["truth"], e["predicted"]] for e in result["errors"]],
    }


def print_scores(heading: str, first_column: str, results: dict[str, dict]) -> None:
    """`heading` (machine, date, commit), a Markdown table of the runs' test scores, and one JSON line."""
    print(heading)
    print(f"| {first_column} | test full-string | characters | steps |\n|---|---:|---:|---:|")
    for key, r in results.items():
        print(f"| {key} | {r['full_string']:.2%} of {r['images']:,} | {r['char']:.2%} | {r['steps']:,} |")
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join([*SETS, *GENERATED]))
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--project", type=Path, default=Path("benchmarks/runs"))
    parser.add_argument("--score-only", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON (with every misread) to this file")
    args = parser.parse_args()
    results = {}
    for name in args.sets.split(","):
        train_dir, test_dir, budget = folders(name, args.data, args.project)
        run = args.project / f"{name}-small-{budget}"
        command = ["captcha", "train", str(train_dir), "--arch", "small", "--time", budget]
        if not args.score_only:
            command = train(train_dir, budget, args.project, run.name)
        results[name] = {"command": " ".join(command), "test": str(test_dir), **score(run, test_dir)}
    header = stamp()
    print(f"Machine: {header['machine']}; date {header['date']}; commit {header['commit']}\n")
    print("| set | command | full-string | char | by length | steps | images/s | input |")
    print("|---|---|---:|---:|---|---:|---:|---|")
    for name, r in results.items():
        lengths = ", ".join(f"{k}: {v:.1%}" for k, v in r["by_length"].items())
        print(
            f"| {name} | `{r['command']}` | {r['full_string']:.1%} | {r['char']:.1%} | {lengths} | {r['steps']:,} "
            f"| {r['images_per_s']:.0f} | {r['input']} |"
        )
    raw = json.dumps({**header, "sets": results})
    print(raw)
    if args.out:
        write_text_atomic(args.out, raw + "\n")


if __name__ == "__main__":
    main()
