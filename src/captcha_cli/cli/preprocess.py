"""`captcha preprocess`: normalize a folder of images, preview the effect, or build a training cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import ui
from captcha_cli.cli.common import (
    BackendOpt,
    HeightOpt,
    IgnoreCaseOpt,
    JsonOpt,
    LabelPatternOpt,
    QuietOpt,
    SkipInvalidOpt,
    WidthOpt,
    handle_errors,
)
from captcha_cli.errors import CaptchaError


@handle_errors
def preprocess(
    source: Annotated[Path, typer.Argument(help="An image file or a folder of images.")],
    out: Annotated[Path | None, typer.Argument(help="Folder for the normalized images (same names).")] = None,
    backend: BackendOpt = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace files already in OUT.")] = False,
    preview: Annotated[
        Path | None, typer.Option("--preview", help="Write a before/after grid of a sample to this PNG.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Also write a preprocessed cache that `train` reads.")
    ] = None,
    height: HeightOpt = None,
    width: WidthOpt = None,
    label_pattern: LabelPatternOpt = None,
    ignore_case: IgnoreCaseOpt = False,
    skip_invalid: SkipInvalidOpt = False,
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Apply the report's color normalization to images (OUT keeps relative paths and names)."""
    from captcha_cli.data.preprocessing import resolve_backend

    if out is None and preview is None and cache is None:
        raise CaptchaError("nothing to do: give OUT, --preview FILE.png or --cache DIR")
    concrete = resolve_backend(backend)
    show = not (quiet or json_output)
    result: dict = {"backend": concrete}
    if out is not None:
        from captcha_cli.data.datasets import find_images
        from captcha_cli.data.preprocess_job import normalize_folder

        with ui.ProgressBar("Normalizing", len(find_images(source)), enabled=show) as bar:
            result["normalized"] = normalize_folder(source, out, concrete, overwrite, bar.advance)
        for message in result["normalized"]["failed"]:
            ui.error(message)
    if preview is not None:
        from captcha_cli.data.preprocess_job import write_preview

        result["preview"] = write_preview(source, preview, concrete)
    if cache is not None:
        from captcha_cli.data.cache_job import write_cache

        result["cache"] = write_cache(
            source,
            cache,
            concrete,
            height or 60,
            width or 200,
            label_pattern,
            ignore_case,
            skip_invalid,
            overwrite,
            ui.ConsoleReporter(show),
        )
    if json_output:
        ui.print_json(result)
    elif not quiet:
        _report(result)
    if result.get("normalized", {}).get("failed"):
        raise typer.Exit(1)


def _report(result: dict) -> None:
    if "normalized" in result:
        n = result["normalized"]
        ui.info(
            f"Normalized {n['written']:,} of {n['images']:,} images into {n['output']} "
            f"({n['kept_existing']:,} kept, {len(n['failed']):,} failed; backend {result['backend']})."
        )
    if "preview" in result:
        ui.info(f"Preview of {result['preview']['images']} images: {result['preview']['preview']}")
    if "cache" in result:
        c = result["cache"]
        ui.info(f"Cache of {c['images']:,} images ({c['shape']}) in {c['cache']}; {c['skipped']:,} left out.")
