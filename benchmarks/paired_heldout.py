"""Do two models really differ on the same held-out captchas? A paired comparison.

Two runs' accuracies on one held-out folder differ by less than one run's sampling error more
often than not; what decides is the captchas one model reads and the other does not. This reads
the folder with both models (the way `captcha evaluate` does), counts the captchas each reads
alone, and gives the exact two-sided McNemar p-value: the chance of a split at least that uneven
if the two models were equally good.

Usage: python benchmarks/paired_heldout.py MODEL_A MODEL_B --heldout DIR
Prints a short table and one JSON line. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
from math import comb
from pathlib import Path

from captcha_cli import runtime


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at one half."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def correct_by_file(model: Path, heldout: Path) -> dict[str, bool]:
    """Whether `model` reads each captcha of `heldout` whole."""
    from heldout import read_heldout

    samples, predictions = read_heldout(model, heldout)
    truth = {str(s.path): s.label for s in samples}
    return {p.path: p.text == truth[p.path] for p in predictions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_a", type=Path, help="a .keras file or a run folder")
    parser.add_argument("model_b", type=Path, help="a .keras file or a run folder")
    parser.add_argument("--heldout", type=Path, required=True)
    args = parser.parse_args()

    runtime.import_tensorflow()
    a = correct_by_file(args.model_a, args.heldout)
    b = correct_by_file(args.model_b, args.heldout)
    files = sorted(a)
    only_a = sum(a[f] and not b[f] for f in files)
    only_b = sum(b[f] and not a[f] for f in files)
    result = {
        "model_a": str(args.model_a),
        "model_b": str(args.model_b),
        "images": len(files),
        "accuracy_a": sum(a.values()) / len(files),
        "accuracy_b": sum(b.values()) / len(files),
        "both_right": sum(a[f] and b[f] for f in files),
        "only_a": only_a,
        "only_b": only_b,
        "both_wrong": sum(not a[f] and not b[f] for f in files),
        "mcnemar_p": mcnemar_exact(only_a, only_b),
    }
    print(f"held-out images     {result['images']}")
    print(f"A  {result['accuracy_a']:.1%}  {args.model_a}")
    print(f"B  {result['accuracy_b']:.1%}  {args.model_b}")
    print(f"both right {result['both_right']}, only A {only_a}, only B {only_b}, both wrong {result['both_wrong']}")
    print(f"exact McNemar p (two-sided) {result['mcnemar_p']:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
