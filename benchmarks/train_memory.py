"""Peak memory (RSS) of a `captcha train` run, measured on a child process.

Usage: python benchmarks/train_memory.py DATA [--arch resnet34] [--batch-size 64] [--steps 5]
Prints the peak resident set size of the training process in GiB, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data")
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as project:
        command = [
            sys.executable,
            "-m",
            "captcha_cli",
            "train",
            args.data,
            "--arch",
            args.arch,
            "--batch-size",
            str(args.batch_size),
            "--max-steps",
            str(args.steps),
            "--val-every",
            str(args.steps),
            "--precision",
            args.precision,
            "--project",
            project,
            "--quiet",
        ]
        subprocess.run(command, check=True)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    print(
        f"{args.arch}, batch {args.batch_size}, {args.steps} steps, precision {args.precision}: "
        f"peak RSS {peak_gib:.2f} GiB"
    )
    print(json.dumps({"arch": args.arch, "batch_size": args.batch_size, "peak_rss_gib": peak_gib}))


if __name__ == "__main__":
    main()
