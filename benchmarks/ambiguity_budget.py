"""How much of a model's held-out error is confusions between look-alike characters?

Reads a held-out folder with a trained model (the way `captcha evaluate` does) and reports
full-string accuracy three ways: as scored; on only the captchas that hold none of the given
look-alike characters; and with a confusion inside a look-alike group forgiven (each group read as
one character). The groups come from benchmarks/glyph_similarity.py (for `noisy`: `ilI`, `pP`,
`jJ`, `vV`; for `simple`: `0oO`, `zZ`, `vV`, `uU`, `xX`).

Usage: python benchmarks/ambiguity_budget.py MODEL --heldout DIR --groups ilI,pP,jJ,vV
Prints a short table and one JSON line. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from captcha_cli import runtime


def fold(text: str, groups: list[str]) -> str:
    """`text` with every character of a group replaced by the group's first character."""
    table = {c: group[0] for group in groups for c in group}
    return "".join(table.get(c, c) for c in text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a .keras file or a run folder")
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--groups", required=True, help="comma-separated look-alike groups, e.g. ilI,pP")
    args = parser.parse_args()
    groups = [g for g in args.groups.split(",") if g]

    runtime.import_tensorflow()
    from heldout import read_heldout

    from captcha_cli.inference.evaluation import score

    samples, predictions = read_heldout(args.model, args.heldout)
    scored = score(samples, predictions)
    truth = {str(s.path): s.label for s in samples}
    pairs = [(truth[p.path], p.text) for p in predictions]
    lookalikes = set("".join(groups))
    clean = [(t, p) for t, p in pairs if not lookalikes & set(t)]
    result = {
        "model": str(args.model),
        "groups": groups,
        "images": len(pairs),
        "full_string_accuracy": scored["full_string_accuracy"],
        "share_with_lookalikes": 1 - len(clean) / len(pairs),
        "accuracy_without_lookalikes": sum(t == p for t, p in clean) / len(clean) if clean else None,
        "accuracy_lookalikes_forgiven": sum(fold(t, groups) == fold(p, groups) for t, p in pairs) / len(pairs),
    }
    print(f"held-out images                          {result['images']}")
    print(f"full-string accuracy                     {result['full_string_accuracy']:.1%}")
    print(f"captchas holding a look-alike            {result['share_with_lookalikes']:.1%}")
    if clean:
        print(f"accuracy on the others                   {result['accuracy_without_lookalikes']:.1%}")
    print(f"accuracy, look-alike confusions forgiven {result['accuracy_lookalikes_forgiven']:.1%}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
