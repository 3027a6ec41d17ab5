"""Preprocessed datasets: every image decoded, normalized and resized once into a uint8 array,
kept in memory or written to disk (`images.npy`, memory-mapped on reading) for `train` to read."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captcha_cli.data.datasets import Problem, Sample
from captcha_cli.data.preprocessing import load_for_model
from captcha_cli.errors import DatasetError, ImageError

CACHE_META = "cache.json"
CACHE_IMAGES = "images.npy"
CACHE_VERSION = 1
KEEP_BLOCK = 1024  # rows copied at a time when failed images are dropped from a memory-mapped cache


@dataclass
class ImageCache:
    """Preprocessed images (uint8, N x H x W x C) with their labels, paths and content digests."""

    images: np.ndarray
    labels: list[str]
    paths: list[str]
    digests: list[str]
    backend: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def samples(self) -> list[Sample]:
        return [
            Sample(Path(p), label, digest)
            for p, label, digest in zip(self.paths, self.labels, self.digests, strict=True)
        ]

    def subset(self, indices: Sequence[int]) -> ImageCache:
        idx = np.asarray(indices, dtype=np.int64)
        return ImageCache(
            self.images[idx],
            [self.labels[i] for i in idx],
            [self.paths[i] for i in idx],
            [self.digests[i] for i in idx],
            self.backend,
        )


def build_cache(
    samples: Sequence[Sample],
    shape: tuple[int, int, int],
    backend: str,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    out_dir: Path | None = None,
) -> tuple[ImageCache, list[Problem]]:
    """Decode and normalize every sample in parallel; returns the cache and the files that failed.

    With `out_dir`, the array is written to `out_dir/images.npy` (a temporary folder renamed into
    place at the end), so datasets larger than memory work.
    """
    height, width, channels = shape
    workers = workers or os.cpu_count() or 1
    tmp_dir = None
    if out_dir is not None:
        tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        images = np.lib.format.open_memmap(
            tmp_dir / CACHE_IMAGES, mode="w+", dtype=np.uint8, shape=(len(samples), height, width, channels)
        )
    else:
        images = np.empty((len(samples), height, width, channels), dtype=np.uint8)
    failed: dict[int, Problem] = {}

    def work(start: int) -> int:
        chunk = samples[start : start + 64]
        for offset, sample in enumerate(chunk):
            try:
                images[start + offset] = load_for_model(sample.path, height, width, channels, backend)
            except ImageError as exc:
                failed[start + offset] = Problem("undecodable image", sample.path, exc.message)
        return len(chunk)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(work, range(0, len(samples), 64)):
            if progress:
                progress(done)
    keep = [i for i in range(len(samples)) if i not in failed]
    if failed:
        images = _kept_rows(images, keep, tmp_dir)
    cache = ImageCache(
        np.asarray(images),
        [samples[i].label for i in keep],
        [str(samples[i].path) for i in keep],
        [samples[i].digest for i in keep],
        backend,
    )
    if out_dir is not None:
        images.flush()
        meta = {
            "version": CACHE_VERSION,
            "backend": backend,
            "shape": list(shape),
            "labels": cache.labels,
            "paths": cache.paths,
            "digests": cache.digests,
        }
        (tmp_dir / CACHE_META).write_text(json.dumps(meta), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp_dir.rename(out_dir)
        cache = load_cache(out_dir)
    return cache, list(failed.values())


def _kept_rows(images: np.ndarray, keep: list[int], tmp_dir: Path | None) -> np.ndarray:
    """The rows in `keep`. A memory-mapped cache is copied a block at a time into a new file that
    replaces the old one, so a cache larger than memory never has to fit in it."""
    if tmp_dir is None:
        return images[keep]
    kept_path = tmp_dir / f"kept-{CACHE_IMAGES}"
    kept = np.lib.format.open_memmap(kept_path, mode="w+", dtype=images.dtype, shape=(len(keep), *images.shape[1:]))
    for start in range(0, len(keep), KEEP_BLOCK):
        kept[start : start + KEEP_BLOCK] = images[keep[start : start + KEEP_BLOCK]]
    kept.flush()
    os.replace(kept_path, tmp_dir / CACHE_IMAGES)
    return kept


def is_cache(path: Path) -> bool:
    return (path / CACHE_META).is_file() and (path / CACHE_IMAGES).is_file()


def load_cache(path: Path) -> ImageCache:
    """Open a cache written by `captcha preprocess --cache`; the images are memory-mapped."""
    try:
        meta = json.loads((path / CACHE_META).read_text(encoding="utf-8"))
        images = np.load(path / CACHE_IMAGES, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable preprocessed cache ({exc})") from None
    if meta.get("version") != CACHE_VERSION or len(meta["labels"]) != len(images):
        raise DatasetError(
            f"{path}: cache is damaged or from another version",
            hint="rebuild it with captcha preprocess --cache",
        )
    return ImageCache(images, meta["labels"], meta["paths"], meta["digests"], meta["backend"])
