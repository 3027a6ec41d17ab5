"""The `--unlabelled` folder: captchas without labels, audited like a labelled folder and
preprocessed to the model's input. Images whose content is also in the labelled data are left out
(and counted): the validation split would otherwise be trained on."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captcha_cli.data.datasets import Problem, audit_unlabelled, describe_problems
from captcha_cli.data.imagecache import build_cache
from captcha_cli.errors import DatasetError


@dataclass
class UnlabelledData:
    """Preprocessed unlabelled images and what was left out of the folder."""

    images: np.ndarray  # uint8, N x H x W x C
    paths: list[str]
    skipped: list[Problem]  # invalid files left out (only with --skip-invalid)
    also_labelled: int  # images whose content is in the labelled data
    duplicates: int  # repeats of an image earlier in the folder

    def __len__(self) -> int:
        return len(self.paths)


def load_unlabelled(
    folder: Path,
    shape: tuple[int, int, int],
    backend: str,
    labelled_digests: Collection[str],
    skip_invalid: bool,
    progress: Callable[[int], None] | None = None,
) -> UnlabelledData:
    """Audit, deduplicate against the labelled data and preprocess every image of `folder`.

    An invalid file stops with an error naming it, unless `skip_invalid` (then it is listed in
    `skipped`); a folder with nothing left to learn from is an error either way.
    """
    audit = audit_unlabelled(folder)
    problems = list(audit.problems)
    if problems and not skip_invalid:
        raise DatasetError(
            f"{describe_problems(problems)} in --unlabelled",
            hint="fix or remove it, or pass --skip-invalid to leave such files out",
        )
    known, seen = set(labelled_digests), set()
    fresh, also_labelled, duplicates = [], 0, 0
    for sample in audit.samples:
        if sample.digest in known:
            also_labelled += 1
        elif sample.digest in seen:
            duplicates += 1
        else:
            fresh.append(sample)
            seen.add(sample.digest)
    cache, failed = build_cache(fresh, shape, backend, progress)
    if failed and not skip_invalid:
        raise DatasetError(f"{failed[0].detail} in --unlabelled", hint="fix or remove it, or pass --skip-invalid")
    if not len(cache):
        raise DatasetError(
            f"{folder}: no unlabelled images left to learn from "
            f"({also_labelled:,} are also in the labelled data, {len(problems) + len(failed):,} invalid)"
        )
    return UnlabelledData(cache.images, cache.paths, problems + failed, also_labelled, duplicates)
