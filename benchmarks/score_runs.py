"""Training runs scored on one held-out folder: the raw figures a RESULTS.md row links to.

For each run folder it runs `captcha evaluate TEST --model RUN --json` (through outside_sets.score)
and writes one JSON file: machine, date, commit, and per run the command that trained it (from
its config.json), full-string and character accuracy, by length, steps, best validation,
images/s and every misread (truth, reading).

Usage: python benchmarks/score_runs.py TEST RUN [RUN ...] --out benchmarks/results/NAME.json
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from machine import stamp
from outside_sets import score

from captcha_cli.atomic import write_text_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = {}
    for run in args.runs:
        command = json.loads((run / "config.json").read_text())["command"]
        runs[run.name] = {"command": shlex.join(command), **score(run, args.test)}
    raw = {**stamp(), "test": str(args.test), "runs": runs}
    write_text_atomic(args.out, json.dumps(raw, indent=1) + "\n")
    for name, r in runs.items():
        print(f"{name}: {r['full_string']:.1%} full-string, {r['steps']:,} steps, `{r['command']}`")


if __name__ == "__main__":
    main()
