"""Wrong labels: the labelled images where the model confidently reads something else.

A misread is suspect when the model finds its own reading far likelier than the label: the
margin is ln P(reading) - ln P(label), each the probability of the whole text (CTC: summed over
every alignment by the forward algorithm; position models: the product over positions). A
model that misreads an image it finds hard gives both texts similar odds (a small margin); a
label that names other characters than the image shows gets a large one. NumPy only.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from captcha_cli.atomic import atomic_write
from captcha_cli.errors import CharsetError
from captcha_cli.model.decoding import ctc_text_log_probability, position_probabilities
from captcha_cli.spec import ModelSpec

_FLOOR = -1000.0  # ln P of a text the model cannot produce at all (kept finite for JSON)


def text_log_probability(probs: np.ndarray, text: str, spec: ModelSpec) -> float:
    """ln P(text) for one image: CTC's forward sum, or the product over a position model's slots."""
    try:
        ids = spec.codec.encode(text) if text else [0] * spec.max_length  # "": the model read nothing
    except CharsetError:  # characters or a length the model cannot produce
        return _FLOOR
    if spec.loss == "ctc":
        value = float(ctc_text_log_probability(probs[None], np.array([[i for i in ids if i != 0] or [0]]))[0])
    else:
        with np.errstate(divide="ignore"):
            value = float(np.sum(np.log(probs[np.arange(len(ids)), ids])))
    return max(value, _FLOOR)


def rank_suspects(logits: np.ndarray, misreads: Sequence[dict], spec: ModelSpec) -> list[dict]:
    """Misreads (dicts with path, truth, predicted, confidence), most suspect label first, each
    with its margin; `logits` are theirs, in the same order."""
    probs = position_probabilities(logits, spec)
    ranked = []
    for row, error in zip(probs, misreads, strict=True):
        label = text_log_probability(row, error["truth"], spec)
        reading = text_log_probability(row, error["predicted"], spec)
        ranked.append({**error, "margin": reading - label})
    return sorted(ranked, key=lambda e: -e["margin"])


def write_suspects(suspects: Sequence[dict], target: Path) -> None:
    """The ranked suspects as CSV: path, label, reading, confidence, margin."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "reading", "confidence", "margin"])
        for s in suspects:
            writer.writerow([s["path"], s["truth"], s["predicted"], f"{s['confidence']:.4f}", f"{s['margin']:.3f}"])


def suspects_of(reader, misreads: Sequence[dict]) -> list[dict]:
    """An evaluation's misreads ranked by `reader`'s model, most suspect label first."""
    chunks = [misreads[i : i + 64] for i in range(0, len(misreads), 64)]
    logits = [reader.logits(np.stack([reader.load(Path(e["path"])) for e in chunk])) for chunk in chunks]
    empty = np.zeros((0, reader.spec.output_size), dtype=np.float32)
    return rank_suspects(np.concatenate(logits) if logits else empty, misreads, reader.spec)


def report_suspects(ranked: Sequence[dict], target: Path) -> dict:
    """Write ranked suspects as the CSV and a gallery PNG beside it (`.png`, as `--errors` draws
    it); returns where, how many, and the ten most suspect."""
    from captcha_cli.inference.evaluation import error_grid

    write_suspects(ranked, target)
    gallery = target.with_suffix(".png")
    shown = error_grid(ranked, gallery)
    top = list(ranked[:10])
    return {"path": str(target), "gallery": str(gallery), "shown": shown, "count": len(ranked), "top": top}
