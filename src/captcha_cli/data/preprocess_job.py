"""The `preprocess` workflow: normalize a folder of images, write a preview grid, build a cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from captcha_cli.atomic import atomic_write
from captcha_cli.data.datasets import find_images, label_from_name
from captcha_cli.data.preprocessing import decode_image, normalize, resize
from captcha_cli.data.synthetic import font as label_font
from captcha_cli.errors import CaptchaError, ImageError

Progress = Callable[[int], None]


def check_output_folder(source: Path, out: Path) -> None:
    """Refuse an output folder whose files would land among the inputs: the input folder or a
    folder inside it; for one image, the folder it is in (its output would replace it); a file."""
    if out.exists() and not out.is_dir():
        raise CaptchaError(f"{out}: is a file, not a folder; choose a folder for the normalized images")
    dst = out.resolve()
    if source.is_dir():
        src = source.resolve()
        if dst == src or src in dst.parents:
            raise CaptchaError(f"{out}: output folder is inside the input {source}; choose another folder")
    elif dst == source.resolve().parent:
        raise CaptchaError(
            f"{out}: output folder holds the input {source}, which would be replaced; choose another folder"
        )


def normalize_folder(
    source: Path, out: Path, backend: str, overwrite: bool = False, progress: Progress | None = None
) -> dict:
    """Write the normalized version of every image under `source` to the same relative path
    under `out`. Existing files are kept unless `overwrite`; unreadable files are listed."""
    check_output_folder(source, out)
    paths = find_images(source)
    base = source if source.is_dir() else source.parent
    written, skipped, failed = 0, 0, []
    for path in paths:
        target = out / path.relative_to(base)
        if target.exists() and not overwrite:
            skipped += 1
        else:
            try:
                normalized = normalize(decode_image(path), backend)
            except ImageError as exc:
                failed.append(exc.message)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(target) as tmp:
                    Image.fromarray(normalized).save(tmp)
                written += 1
        if progress:
            progress(1)
    return {
        "input": str(source),
        "output": str(out),
        "backend": backend,
        "images": len(paths),
        "written": written,
        "kept_existing": skipped,
        "failed": failed,
    }


def preview_grid(paths: Sequence[Path], backend: str, height: int = 60, width: int = 200) -> Image.Image:
    """Rows of (original, normalized, label) for a person to judge what normalization does."""
    label_w, pad = 120, 6
    row_h = height + pad
    grid = Image.new("RGB", (2 * width + label_w + 4 * pad, row_h * len(paths) + pad + 20), "white")
    draw = ImageDraw.Draw(grid)
    font = label_font(14)
    draw.text((pad, 2), "original", fill="black", font=font)
    draw.text((2 * pad + width, 2), f"normalized ({backend})", fill="black", font=font)
    draw.text((3 * pad + 2 * width, 2), "label", fill="black", font=font)
    for row, path in enumerate(paths):
        top = 20 + pad + row * row_h
        try:
            rgb = decode_image(path)
        except ImageError:
            draw.text((pad, top + height // 3), f"unreadable: {path.name}", fill="red", font=font)
            continue
        grid.paste(Image.fromarray(resize(rgb, height, width)), (pad, top))
        grid.paste(Image.fromarray(resize(normalize(rgb, backend), height, width)), (2 * pad + width, top))
        draw.text((3 * pad + 2 * width, top + height // 3), label_from_name(path), fill="black", font=font)
    return grid


def write_preview(source: Path, target: Path, backend: str, count: int = 12) -> dict:
    """Save a before/after grid of up to `count` images spread evenly over the folder."""
    paths = find_images(source)
    if not paths:
        raise CaptchaError(f"{source}: no images found")
    picks = [paths[int(i)] for i in np.unique(np.linspace(0, len(paths) - 1, min(count, len(paths))).round())]
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp:
        preview_grid(picks, backend).save(tmp, format="PNG")
    return {"preview": str(target), "images": len(picks)}
