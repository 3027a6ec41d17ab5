"""`curves.png`: loss, accuracies and learning rate against steps, drawn with PIL."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from captcha_cli.atomic import atomic_write
from captcha_cli.data.synthetic import font

PANEL_W, PANEL_H, MARGIN = 360, 240, 44
COLORS = ["#1f77b4", "#d62728", "#2ca02c"]


def _panel(
    draw: ImageDraw.ImageDraw,
    left: int,
    title: str,
    steps: Sequence[float],
    series: dict[str, Sequence[float]],
    log: bool = False,
) -> None:
    small, label = font(11), font(13)
    x0, y0, x1, y1 = left + MARGIN, MARGIN, left + PANEL_W - 12, PANEL_H - 30
    draw.rectangle([x0, y0, x1, y1], outline="black")
    draw.text((x0, 12), title, fill="black", font=label)
    values = [v for vs in series.values() for v in vs if v is not None and (v > 0 or not log)]
    if not steps or not values:
        return
    lo, hi = min(values), max(values)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    s_lo, s_hi = min(steps), max(steps)
    s_span = max(s_hi - s_lo, 1)

    def point(step: float, value: float) -> tuple[float, float]:
        v = math.log10(value) if log else value
        return (x0 + (step - s_lo) / s_span * (x1 - x0), y1 - (v - lo) / (hi - lo) * (y1 - y0))

    for index, (name, vs) in enumerate(series.items()):
        pts = [point(s, v) for s, v in zip(steps, vs, strict=True) if v is not None and (v > 0 or not log)]
        color = COLORS[index % len(COLORS)]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        for x, y in pts[-1:] if len(pts) > 60 else pts:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
        draw.text((x0 + 6, y0 + 4 + 14 * index), name, fill=color, font=small)
    fmt = (lambda v: f"{10**v:.0e}") if log else (lambda v: f"{v:.3g}")
    draw.text((left + 2, y0 - 6), fmt(hi), fill="black", font=small)
    draw.text((left + 2, y1 - 6), fmt(lo), fill="black", font=small)
    draw.text((x0, y1 + 4), f"{int(s_lo)}", fill="black", font=small)
    draw.text((x1 - 40, y1 + 4), f"{int(s_hi)} steps", fill="black", font=small)


def draw_curves(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write the three panels (loss, accuracy, learning rate) for the metrics rows."""
    image = Image.new("RGB", (3 * PANEL_W, PANEL_H), "white")
    draw = ImageDraw.Draw(image)
    steps = [row["step"] for row in rows]
    _panel(
        draw,
        0,
        "loss",
        steps,
        {"train loss": [r["loss"] for r in rows], "val loss": [r["val_loss"] for r in rows]},
    )
    _panel(
        draw,
        PANEL_W,
        "validation accuracy",
        steps,
        {"full string": [r["full_string_acc"] for r in rows], "per char": [r["char_acc"] for r in rows]},
    )
    _panel(draw, 2 * PANEL_W, "learning rate (log)", steps, {"lr": [r["lr"] for r in rows]}, log=True)
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")
