"""Accuracy against training time, for finished `captcha train` runs: the best full-string
validation accuracy reached by 5, 10, 20 and 30 minutes (from each run's metrics.csv), and the
held-out accuracy of its best.keras (`captcha evaluate --json` on a folder it never trained on).

Usage: python benchmarks/accuracy_budget.py RUN [RUN ...] --heldout DIR [--minutes 5,10,20,30]
Prints a Markdown table (one row per run, with the command that trained it) and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path


def best_by_minute(run: Path, minutes: list[int]) -> dict[int, tuple[float, int] | None]:
    """For each budget: (best validation accuracy so far, step) among rows logged by then."""
    with open(run / "metrics.csv", newline="") as handle:
        rows = [(float(r["elapsed_s"]), float(r["full_string_acc"]), int(r["step"])) for r in csv.DictReader(handle)]
    result: dict[int, tuple[float, int] | None] = {}
    for minute in minutes:
        # the last validation round of a --time run ends a few seconds after the budget
        seen = [(acc, step) for elapsed, acc, step in rows if elapsed <= minute * 60 + 10]
        too_short = not rows or rows[-1][0] < minute * 60 * 0.97
        result[minute] = None if too_short or not seen else max(seen)
    return result


def held_out(run: Path, heldout: Path) -> dict:
    out = subprocess.run(
        ["captcha", "evaluate", str(heldout), "--model", str(run / "best.keras"), "--json", "--quiet"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--minutes", default="5,10,20,30")
    args = parser.parse_args()
    minutes = [int(m) for m in args.minutes.split(",")]
    header = " | ".join(f"{m} min" for m in minutes)
    print(f"| run | command | {header} | held-out full string | held-out CER |")
    print("|---|---|" + "---:|" * (len(minutes) + 2))
    report = []
    for run in args.runs:
        config = json.loads((run / "config.json").read_text())
        by_minute = best_by_minute(run, minutes)
        scores = held_out(run, args.heldout)
        cells = " | ".join("-" if v is None else f"{v[0]:.1%} (step {v[1]:,})" for v in by_minute.values())
        command = " ".join(config["command"])
        print(
            f"| {run.name} | `{command}` | {cells} | **{scores['full_string_accuracy']:.1%}** | {scores['cer']:.1%} |"
        )
        report.append(
            {
                "run": str(run),
                "command": command,
                "best_val_by_minute": {m: (None if v is None else v[0]) for m, v in by_minute.items()},
                "heldout": {k: scores[k] for k in ("images", "full_string_accuracy", "char_accuracy", "cer")},
            }
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
