"""Build the preprocessed training cache of a labelled folder (`captcha preprocess --cache`)."""

from __future__ import annotations

from pathlib import Path

from captcha_cli.data.datasets import audit_folder
from captcha_cli.data.imagecache import build_cache
from captcha_cli.data.labelled import check_problems
from captcha_cli.errors import CaptchaError
from captcha_cli.reporting import Reporter


def write_cache(
    source: Path,
    cache_dir: Path,
    backend: str,
    height: int,
    width: int,
    label_pattern: str | None,
    ignore_case: bool,
    skip_invalid: bool,
    overwrite: bool,
    reporter: Reporter,
) -> dict:
    """Audit the folder, preprocess every usable image and write `images.npy` + `cache.json`."""
    if cache_dir.exists() and not overwrite:
        raise CaptchaError(f"{cache_dir}: already exists", hint="pass --overwrite to replace it")
    audit = audit_folder(source, None, None, label_pattern, ignore_case)
    skipped = check_problems(audit, skip_invalid)
    with reporter.progress("Caching", len(audit.samples)) as bar:
        cache, failed = build_cache(audit.samples, (height, width, 3), backend, bar.advance, out_dir=cache_dir)
    return {
        "cache": str(cache_dir),
        "images": len(cache),
        "shape": list(cache.shape),
        "skipped": len(skipped) + len(failed),
    }
