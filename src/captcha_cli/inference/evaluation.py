"""The `evaluate` workflow: honest numbers for a model on labelled data, and the pictures that
show them (the misread images, the reliability diagram)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from captcha_cli.atomic import atomic_write
from captcha_cli.data.datasets import Sample, audit_folder
from captcha_cli.data.labelled import check_problems
from captcha_cli.data.preprocessing import decode_image, resize
from captcha_cli.data.synthetic import font
from captcha_cli.inference.readers import Prediction
from captcha_cli.model.calibration import calibration_summary
from captcha_cli.model.decoding import Constraint
from captcha_cli.reporting import Reporter

THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def score(samples: Sequence[Sample], predictions: Sequence[Prediction], ignore_case: bool = False) -> dict:
    """Full-string and per-character accuracy, CER, per-length accuracy, confusions, accuracy
    against confidence thresholds, and calibration (ECE over 15 bins). With `ignore_case`, case
    does not count (the answers come folded to lower case)."""
    truth = {str(s.path): s.label.lower() if ignore_case else s.label for s in samples}
    pairs = [(truth[p.path], p) for p in predictions]
    n = len(pairs)
    correct = [t == p.text for t, p in pairs]
    chars = sum(len(t) for t, _ in pairs)
    char_hits = sum(sum(a == b for a, b in zip(t, p.text, strict=False)) for t, p in pairs)
    errors = sum(edit_distance(t, p.text) for t, p in pairs)
    by_length: dict[str, dict] = {}
    for length in sorted({len(t) for t, _ in pairs}):
        group = [ok for (t, _), ok in zip(pairs, correct, strict=True) if len(t) == length]
        by_length[str(length)] = {"images": len(group), "full_string_accuracy": float(np.mean(group))}
    confusions = Counter(
        (a, b) for t, p in pairs if len(t) == len(p.text) for a, b in zip(t, p.text, strict=True) if a != b
    )
    curve = []
    for threshold in THRESHOLDS:
        answered = [ok for (_, p), ok in zip(pairs, correct, strict=True) if p.confidence >= threshold]
        curve.append(
            {
                "threshold": threshold,
                "answered": len(answered) / n if n else 0.0,
                "accuracy": float(np.mean(answered)) if answered else None,
            }
        )
    confidence = np.array([p.confidence for _, p in pairs])
    return {
        "images": n,
        "full_string_accuracy": float(np.mean(correct)) if n else 0.0,
        "char_accuracy": char_hits / chars if chars else 0.0,
        "cer": errors / chars if chars else 0.0,
        "by_length": by_length,
        "confusions": [{"truth": a, "predicted": b, "count": c} for (a, b), c in confusions.most_common(10)],
        "by_confidence": curve,
        "calibration": calibration_summary(confidence, np.array(correct)),
        "errors": [
            {"path": p.path, "truth": t, "predicted": p.text, "confidence": p.confidence}
            for (t, p), ok in zip(pairs, correct, strict=True)
            if not ok
        ],
    }


def error_grid(errors: Sequence[dict], target: Path, limit: int = 24) -> int:
    """A PNG grid of misread images with truth and prediction; returns how many are shown."""
    shown = list(errors[:limit])
    cell_w, cell_h, text_h, pad = 200, 60, 34, 6
    cols = 3
    rows = max(1, -(-len(shown) // cols))
    grid = Image.new("RGB", (cols * (cell_w + pad) + pad, rows * (cell_h + text_h + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    small = font(13)
    if not shown:
        draw.text((pad, pad), "no errors", fill="black", font=small)
    for index, error in enumerate(shown):
        x = pad + (index % cols) * (cell_w + pad)
        y = pad + (index // cols) * (cell_h + text_h + pad)
        grid.paste(Image.fromarray(resize(decode_image(Path(error["path"])), cell_h, cell_w)), (x, y))
        draw.text((x, y + cell_h + 2), f"truth {error['truth']}", fill="black", font=small)
        draw.text(
            (x, y + cell_h + 17), f"read  {error['predicted']} ({error['confidence']:.2f})", fill="red", font=small
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp:
        grid.save(tmp, format="PNG")
    return len(shown)


def reliability_diagram(bins: Sequence[dict], ece: float, target: Path) -> None:
    """A PNG reliability diagram: each confidence bin's accuracy as a bar over the diagonal of
    perfect calibration, with the share of answers in the bin below it."""
    size, margin = 360, 48
    image = Image.new("RGB", (size + 2 * margin, size + 2 * margin + 40), "white")
    draw = ImageDraw.Draw(image)
    small, label = font(11), font(13)
    x0, y0, x1, y1 = margin, margin, margin + size, margin + size
    total = sum(b["answers"] for b in bins) or 1
    width = size / len(bins)
    for index, b in enumerate(bins):
        left = x0 + index * width
        if b["answers"]:
            top = y1 - b["accuracy"] * size
            draw.rectangle([left + 1, top, left + width - 1, y1], fill="#1f77b4")
            mean = y1 - b["confidence"] * size
            draw.line([left + 1, mean, left + width - 1, mean], fill="#d62728", width=2)
        share = b["answers"] / total * 36
        draw.rectangle([left + 1, y1 + 40 - share, left + width - 1, y1 + 40], fill="#7f7f7f")
    draw.line([x0, y1, x1, y0], fill="black")
    draw.rectangle([x0, y0, x1, y1], outline="black")
    draw.text((x0, 12), f"reliability ({len(bins)} bins): ECE {ece:.3f}", fill="black", font=label)
    draw.text((x0, 28), "bars: accuracy; red: mean confidence; grey: share of answers", fill="black", font=small)
    for tick in (0.0, 0.5, 1.0):
        draw.text((x0 + tick * size - 6, y1 + 42), f"{tick:g}", fill="black", font=small)
        draw.text((x0 - 26, y1 - tick * size - 6), f"{tick:g}", fill="black", font=small)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp:
        image.save(tmp, format="PNG")


def evaluate_folder(
    reader,
    data: Path,
    reporter: Reporter,
    label_pattern: str | None = None,
    constraint: Constraint | None = None,
    skip_invalid: bool = False,
    batch_size: int = 64,
    errors: Path | None = None,
    suspects: Path | None = None,
    calibration: Path | None = None,
) -> dict:
    """`captcha evaluate`: audit the labelled folder `data` against the model's charset and length
    (invalid files stop it, unless `skip_invalid`), read every image, and score the readings;
    with `errors`, `suspects` or `calibration`, also write the misread grid, the ranked suspects
    CSV and gallery, or the reliability diagram."""
    spec = reader.spec
    ignore_case = constraint is not None and constraint.ignore_case
    if constraint is not None:
        constraint.allowed_classes(spec)  # refuses a constraint this model cannot meet, before reading
    audit = audit_folder(data, spec.charset, spec.max_length, label_pattern, ignore_case)
    skipped = check_problems(audit, skip_invalid)
    with reporter.progress("Evaluating", len(audit.samples)) as bar:
        predictions = reader.read_files([s.path for s in audit.samples], batch_size, bar.advance, None, constraint)
    result = {
        "model": str(reader.path),
        "data": str(data),
        "skipped": len(skipped),
        "calibrated": bool(spec.calibration),
        **score(audit.samples, predictions, ignore_case),
    }
    if calibration is not None:
        reliability_diagram(result["calibration"]["bins"], result["calibration"]["ece"], calibration)
        result["calibration"]["diagram"] = str(calibration)
    if suspects is not None:
        from captcha_cli.inference.suspects import report_suspects, suspects_of

        result["suspects"] = report_suspects(suspects_of(reader, result["errors"]), suspects)
    if errors is not None:
        result["error_grid"] = {"path": str(errors), "shown": error_grid(result["errors"], errors)}
    return result
