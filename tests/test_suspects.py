"""Wrong labels: `captcha evaluate --suspects` ranks misreads by how much likelier the reading is
than the label."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from PIL import Image

from captcha_cli.inference.suspects import rank_suspects
from captcha_cli.model.decoding import ctc_text_log_probability
from captcha_cli.spec import spec_for_arch
from tests.helpers import invoke, invoke_json


def _collapse(path) -> list[int]:
    return [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]


@pytest.mark.parametrize("text", [[], [1], [1, 2], [2, 2], [1, 2, 1]])
def test_ctc_probability_sums_every_alignment(text) -> None:
    probs = np.random.default_rng(len(text)).dirichlet(np.ones(3), size=5)
    total = sum(
        float(np.prod(probs[np.arange(5), path]))
        for path in itertools.product(range(3), repeat=5)
        if _collapse(path) == text
    )
    padded = np.array([text + [0] * (4 - len(text))])
    assert np.exp(ctc_text_log_probability(probs[None], padded)[0]) == pytest.approx(total, rel=1e-9)


def _ctc_logits(spec, rows: list[dict[str, float]]) -> np.ndarray:
    classes = spec.codec.classes
    rows = rows + [{" ": 0.99}] * (spec.output_steps - len(rows))
    out = np.zeros((len(rows), len(classes)))
    for t, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (len(classes) - len(row))
        out[t] = [np.log(row.get(c, rest)) for c in classes]
    return out.reshape(1, -1)


def test_a_confident_reading_against_its_label_ranks_first() -> None:
    spec = spec_for_arch("small", charset="0123456789", max_length=2, loss="ctc")
    confident = _ctc_logits(spec, [{"1": 0.98}, {" ": 0.98}, {"2": 0.98}])  # reads 12, labelled 78
    unsure = _ctc_logits(spec, [{"3": 0.98}, {" ": 0.98}, {"4": 0.5, "5": 0.45}])  # reads 34, labelled 35
    misreads = [
        {"path": "unsure.png", "truth": "35", "predicted": "34", "confidence": 0.5},
        {"path": "wrong-label.png", "truth": "78", "predicted": "12", "confidence": 0.9},
    ]
    ranked = rank_suspects(np.concatenate([unsure, confident]), misreads, spec)
    assert [r["path"] for r in ranked] == ["wrong-label.png", "unsure.png"]
    assert ranked[0]["margin"] > 10 > ranked[1]["margin"] > 0


def test_evaluate_writes_the_ranked_csv_and_gallery(runner, trained_run, digits_dir, tmp_path) -> None:
    target = tmp_path / "review" / "suspects.csv"
    result = invoke_json(runner, "evaluate", digits_dir, "--model", trained_run[0], "--suspects", target, "--quiet")
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result["errors"]) == result["suspects"]["count"]
    margins = [float(r["margin"]) for r in rows]
    assert margins == sorted(margins, reverse=True)
    assert {r["path"] for r in rows} == {e["path"] for e in result["errors"]}
    assert Image.open(tmp_path / "review" / "suspects.png").format == "PNG"


def _two_kinds(folder, count: int, planted: str) -> None:
    """`count` captchas of `1` (a dark bar on the left) and `2` (on the right), labelled in their
    names, and one of `2` labelled `1`: the planted wrong label."""
    rng = np.random.default_rng(0)
    folder.mkdir()

    def image(label: str) -> Image.Image:
        pixels = np.clip(rng.normal(210, 15, (32, 64, 3)), 0, 255)
        left = 6 if label == "1" else 40
        pixels[6:26, left : left + 18] = 30
        return Image.fromarray(pixels.astype(np.uint8))

    for i in range(count):
        label = "12"[i % 2]
        image(label).save(folder / f"{label}-{i:03d}.png")
    image("2").save(folder / planted)


@pytest.mark.slow
def test_screen_ranks_a_planted_wrong_label_first(runner, tmp_path) -> None:
    """Each part is read by a model trained on the other; the image of `2` labelled `1` tops the
    suspects, the user's folder is left as it was, and a second screen gets a folder of its own."""
    data = tmp_path / "data"
    _two_kinds(data, 48, "1-planted.png")
    before = sorted(p.name for p in data.iterdir())
    screen = ["screen", data, "--arch", "tiny", "--batch-size", "8", "--project", tmp_path / "runs", "--json"]
    result = invoke_json(runner, *screen, "--max-steps", "300")
    assert [p["part"] for p in result["parts"]] == [1, 2]
    assert sum(p["held_out"] for p in result["parts"]) == result["images"] == 49
    top = result["suspects"]["top"][0]
    assert (top["path"], top["truth"], top["predicted"]) == (str(data / "1-planted.png"), "1", "2")
    with open(result["suspects"]["path"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["path"] == str(data / "1-planted.png") and len(rows) == result["suspects"]["count"]
    assert sorted(p.name for p in data.iterdir()) == before
    again = invoke_json(runner, *screen, "--max-steps", "1")
    assert again["screen_dir"] == str(tmp_path / "runs" / "screen2")


def test_screen_names_a_missing_folder(runner, tmp_path) -> None:
    result = invoke(runner, "screen", tmp_path / "nowhere", "--project", tmp_path / "runs")
    assert result.exit_code == 1 and f"{tmp_path / 'nowhere'}: no such folder" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()
