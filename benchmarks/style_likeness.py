"""How well each trained model reads fresh captchas of each built-in style: a candidate test of how
much a style looks like a set, for choosing `--synthetic-mix`'s style from the data.

For each `RUN:LENGTHS` (a `captcha train` run folder and its data's label lengths) it draws COUNT
captchas of every style with the mix's own `FreshCaptchas` (the model's charset, drawn at its input
aspect and put through its preprocessing, as `--synthetic-mix` feeds them), reads them with the run's
best model and prints the share read right and the mean calibrated confidence, with the machine,
date and commit; `--out` writes the same as JSON.

Usage: python benchmarks/style_likeness.py RUN:4,6 [RUN:4 ...] [--count 256] [--seed 7]
       [--out benchmarks/results/NAME.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from machine import stamp

from captcha_cli import runtime
from captcha_cli.atomic import write_text_atomic
from captcha_cli.data.synthetic import parse_lengths
from captcha_cli.errors import CaptchaError

MIX_STYLES = ("noisy", "crowded", "simple")  # the styles --synthetic-mix can draw for any charset


def run_and_lengths(text: str) -> tuple[Path, tuple[int, ...]]:
    """`RUN:4,6` as (run folder, label lengths)."""
    run, _, lengths = text.rpartition(":")
    if not run:
        raise argparse.ArgumentTypeError(f"expected RUN:LENGTHS, e.g. runs/x:4,6. Received: {text!r}")
    try:
        return Path(run), parse_lengths(lengths)
    except CaptchaError as error:  # argparse reports only its own errors without a traceback
        raise argparse.ArgumentTypeError(str(error)) from None


def likeness(run: Path, lengths: tuple[int, ...], count: int, seed: int) -> dict[str, dict[str, float]]:
    """Per style: the share of `count` fresh captchas the run's model reads right, and its mean confidence."""
    from captcha_cli.inference.readers import Reader
    from captcha_cli.training.freshdata import FreshCaptchas

    reader = Reader(run)
    scores = {}
    for style in MIX_STYLES:
        images, ids = FreshCaptchas(reader.spec, style, lengths, seed).batch(0, count)
        truths = [reader.spec.codec.decode(row) for row in ids]
        readings = reader.read_arrays(images, [""] * count)
        scores[style] = {
            "read": float(np.mean([r.text == t for r, t in zip(readings, truths, strict=True)])),
            "mean_confidence": float(np.mean([r.confidence for r in readings])),
        }
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=run_and_lengths, nargs="+", metavar="RUN:LENGTHS")
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runtime.import_tensorflow()
    results = {str(run): likeness(run, lengths, args.count, args.seed) for run, lengths in args.runs}
    print(f"| run | {' | '.join(MIX_STYLES)} |")
    print(f"|---|{'---:|' * len(MIX_STYLES)}")
    for run, scores in results.items():
        cells = " | ".join(f"{scores[s]['read']:.1%} ({scores[s]['mean_confidence']:.2f})" for s in MIX_STYLES)
        print(f"| {Path(run).name} | {cells} |")
    report = {**stamp(), "count": args.count, "seed": args.seed, "runs": results}
    print(json.dumps(report))
    if args.out:
        write_text_atomic(args.out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
