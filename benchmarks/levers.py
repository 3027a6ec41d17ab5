"""One training run of `captcha train DATA --arch small --time T` (the preset's recipe) with one
lever moved that the command line does not offer: the head's dropout, the stages' widths and depths, the augmentation
ranges or the geometry (input size and each stage's stride along the width, which set the CTC time steps;
learning rate, batch size and the generated share of each batch are here too, so one script runs
every row of a comparison).

Usage: python benchmarks/levers.py DATA --name NAME [--time 10m] [--seed 0] [--dropout 0] [--lr 2e-3]
       [--stage-filters 48,96,144,192] [--stage-blocks 2,2,1,1]
       [--batch-size 128] [--aug-rotation 8] [--aug-scale 0] [--aug-shift-x 0.06]
       [--aug-shift-y 0.1] [--aug-noise 12] [--aug-lines 0] [--aug-colour 0]
       [--aug-dots 0] [--aug-blur 0]
       [--size 200x60 --width-strides 1,2,2,1] [--sequence-upsampling 2]
       [--synthetic-mix 0.5 --synthetic-style crowded]
The run folder is PROJECT/NAME, as `captcha train` makes it (metrics.csv, best.keras), so
`benchmarks/accuracy_budget.py` reads it. Prints one JSON line: steps, best validation accuracy,
the last round's images/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from captcha_cli import runtime
from captcha_cli.spec import train_config_for
from captcha_cli.training import batches
from captcha_cli.training.runs import parse_duration

AUGMENTATION_OPTIONS = {
    "aug_rotation": "rotation_deg",
    "aug_scale": "scale",
    "aug_shift_x": "shift_x",
    "aug_shift_y": "shift_y",
    "aug_noise": "noise_std",
    "aug_lines": "lines",
    "aug_colour": "colour",
    "aug_dots": "dots",
    "aug_blur": "blur",
}


def int_tuple(text: str) -> tuple[int, ...]:
    """A comma-separated list of integers, e.g. `2,2,1,1`."""
    return tuple(int(v) for v in text.split(","))


def width_by_height(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT`, e.g. `200x60`."""
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def spec_overrides(args: argparse.Namespace) -> dict:
    """The spec fields the options move (a geometry needs both --size and --width-strides)."""
    overrides: dict = {} if args.dropout is None else {"dropout": args.dropout}
    if args.stage_filters:
        overrides["stage_filters"] = args.stage_filters
    if args.stage_blocks:
        overrides["stage_blocks"] = args.stage_blocks
    if bool(args.size) != bool(args.width_strides):
        raise SystemExit("--size and --width-strides go together")
    if args.size:
        width, height = args.size
        overrides.update(width=width, height=height, stage_width_strides=args.width_strides)
    if args.sequence_upsampling:
        overrides["sequence_upsampling"] = args.sequence_upsampling
    return overrides


def build_parser() -> argparse.ArgumentParser:
    """The script's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--project", type=Path, default=Path("runs/levers"))
    parser.add_argument("--time", default="10m")
    parser.add_argument("--seed", type=int, help="as `captcha train --seed`")
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument(
        "--stage-filters", type=int_tuple, help="each stage's filters, e.g. 48,96,144,192 (small: 32,64,96,128)"
    )
    parser.add_argument(
        "--stage-blocks", type=int_tuple, help="each stage's residual blocks, e.g. 2,2,1,1 (small: 2,2,2,2)"
    )
    parser.add_argument("--size", type=width_by_height, help="WIDTHxHEIGHT of the input, with --width-strides")
    parser.add_argument(
        "--width-strides", type=int_tuple, help="each stage's stride along the width, e.g. 1,2,2,1 (13 steps at 200)"
    )
    parser.add_argument("--sequence-upsampling", type=int, help="repeat each CNN column N times before the BiLSTM")
    parser.add_argument("--synthetic-mix", type=float, help="as `captcha train --synthetic-mix`")
    parser.add_argument("--synthetic-style", default="noisy", help="as `captcha train --synthetic-style`")
    for option in AUGMENTATION_OPTIONS:
        kind = int if option in ("aug_lines", "aug_dots") else float
        parser.add_argument("--" + option.replace("_", "-"), type=kind, dest=option)
    return parser


def main() -> None:
    args = build_parser().parse_args()

    moved = {field: getattr(args, option) for option, field in AUGMENTATION_OPTIONS.items()}
    batches.AUGMENTATION = dataclasses.replace(
        batches.AUGMENTATION, **{k: v for k, v in moved.items() if v is not None}
    )
    runtime.import_tensorflow()
    from captcha_cli import ui
    from captcha_cli.training.request import DataOptions, TrainRequest
    from captcha_cli.training.trainer import run_training

    config = train_config_for(
        "small",
        time_budget_s=parse_duration(args.time),
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        synthetic_mix=args.synthetic_mix,
    )
    request = TrainRequest(
        config=config,
        data=DataOptions(data=args.data, synthetic_style=args.synthetic_style),
        arch="small",
        arch_given=True,
        spec_overrides=spec_overrides(args),
        project=args.project,
        name=args.name,
        command=["python", "benchmarks/levers.py", *sys.argv[1:]],
    )
    result = run_training(request, ui.training_reporter(False))
    print(
        json.dumps(
            {
                "name": args.name,
                "augmentation": dataclasses.asdict(batches.AUGMENTATION),
                "steps": result.step,
                "best_full_string_acc": result.best_full_string_acc,
                "images_per_s": result.last.get("images_per_s"),
            }
        )
    )


if __name__ == "__main__":
    main()
