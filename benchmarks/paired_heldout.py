"""Do two models really differ on the same held-out captchas? A paired comparison.

Two runs' accuracies on one held-out folder differ by less than one run's sampling error more
often than not; what decides is the captchas one model reads and the other does not. This reads
the folder with both models (the way `captcha evaluate` does), counts the captchas each reads
alone, and gives the exact two-sided McNemar p-value: the chance of a split at least that uneven
if the two models were equally good.

Usage: python benchmarks/paired_heldout.py MODEL_A MODEL_B --heldout DIR
       python benchmarks/paired_heldout.py --scores A.json:RUN B.json:RUN
The second form pairs two runs scored on the same folder from the misreads a raw results JSON
keeps (`score_runs.py`, `outside_sets.py --out`), for runs whose models are gone. It knows a
captcha by its label: where the folder holds a label twice, the two runs' misreads of it are taken
to be of the same captchas as far as they can be. Prints a short table and one JSON line. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
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


def scored_run(reference: str) -> tuple[int, Counter]:
    """`FILE.json:RUN`'s held-out image count and its misreads counted by true label."""
    path, _, name = reference.rpartition(":")
    if not path:
        raise argparse.ArgumentTypeError(f"expected FILE.json:RUN. Received: {reference!r}")
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"{path}: not a readable results JSON ({error})") from error
    runs = raw.get("runs") or raw.get("sets") or {}
    if name not in runs or "errors" not in runs[name]:
        raise argparse.ArgumentTypeError(f"{path} has no run {name!r} with its misreads; it has: {', '.join(runs)}")
    return runs[name]["images"], Counter(truth for truth, _ in runs[name]["errors"])


def paired_counts(images: int, misread_a: Counter, misread_b: Counter) -> dict:
    """Both right, only A right, only B right, both wrong, from each run's misreads by label."""
    only_a = sum((misread_b - misread_a).values())
    only_b = sum((misread_a - misread_b).values())
    both_wrong = sum((misread_a & misread_b).values())
    return {
        "images": images,
        "accuracy_a": 1 - sum(misread_a.values()) / images,
        "accuracy_b": 1 - sum(misread_b.values()) / images,
        "both_right": images - only_a - only_b - both_wrong,
        "only_a": only_a,
        "only_b": only_b,
        "both_wrong": both_wrong,
        "mcnemar_p": mcnemar_exact(only_a, only_b),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_a", help="a .keras file or a run folder; with --scores, FILE.json:RUN")
    parser.add_argument("model_b", help="a .keras file or a run folder; with --scores, FILE.json:RUN")
    parser.add_argument("--heldout", type=Path)
    parser.add_argument("--scores", action="store_true", help="pair the misreads two raw results JSONs keep")
    args = parser.parse_args()
    if args.scores == (args.heldout is not None):
        parser.error("give --heldout DIR to read with two models, or --scores to pair two scored runs")

    if args.scores:
        try:
            (images, misread_a), (images_b, misread_b) = scored_run(args.model_a), scored_run(args.model_b)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
        if images != images_b:
            parser.error(f"the runs were scored on {images} and {images_b} images: not the same folder")
        counts = paired_counts(images, misread_a, misread_b)
    else:
        runtime.import_tensorflow()
        a = correct_by_file(Path(args.model_a), args.heldout)
        b = correct_by_file(Path(args.model_b), args.heldout)
        misread_a = Counter(f for f, right in a.items() if not right)
        misread_b = Counter(f for f, right in b.items() if not right)
        counts = paired_counts(len(a), misread_a, misread_b)
    result = {"model_a": args.model_a, "model_b": args.model_b, **counts}
    only_a, only_b = result["only_a"], result["only_b"]
    print(f"held-out images     {result['images']}")
    print(f"A  {result['accuracy_a']:.1%}  {args.model_a}")
    print(f"B  {result['accuracy_b']:.1%}  {args.model_b}")
    print(f"both right {result['both_right']}, only A {only_a}, only B {only_b}, both wrong {result['both_wrong']}")
    print(f"exact McNemar p (two-sided) {result['mcnemar_p']:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
