"""`captcha generate`, `captcha preprocess` and `captcha summary --data` through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import invoke, invoke_json


@pytest.fixture(scope="module")
def noisy_dir(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("noisy")
    result = invoke(
        CliRunner(), "generate", out, "--count", "24", "--seed", "5", "--charset", "0-9a-c", "--length", "4-5"
    )
    assert result.exit_code == 0, result.output
    return out


def test_generate_names_and_labels(noisy_dir) -> None:
    files = sorted(noisy_dir.glob("*.png"))
    assert len(files) == 24
    for path in files:
        label, digest = path.stem.split("-")
        assert 4 <= len(label) <= 5 and set(label) <= set("0123456789abc")
        assert len(digest) == 32
        assert Image.open(path).size == (200, 60)


@pytest.mark.parametrize("style", ["noisy", "crowded", "simple"])
def test_generate_same_seed_same_files(runner, tmp_path, style) -> None:
    for name in ("a", "b"):
        data = invoke_json(runner, "generate", tmp_path / name, "-n", "5", "--style", style, "--seed", "9")
        assert data["written"] == 5
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in (tmp_path / "b").iterdir())
    again = invoke_json(runner, "generate", tmp_path / "a", "-n", "5", "--style", style, "--seed", "9")
    assert again == {**again, "written": 0, "existing": 5}


def test_seeded_captcha_library_repeats_and_restores_secrets() -> None:
    import captcha.image as library

    from captcha_cli.data.synthetic import seeded_captcha_library

    original = library.secrets
    draws = []
    for _ in range(2):
        with seeded_captcha_library(4) as seeded:
            draws.append([seeded.random_color(0, 255) for _ in range(3)])
    assert draws[0] == draws[1] and len(set(draws[0])) == 3
    with pytest.raises(RuntimeError), seeded_captcha_library(4):
        raise RuntimeError("drawing failed")
    assert library.secrets is original


@pytest.mark.parametrize(
    ("length", "size"), [(1, (200, 60)), (4, (200, 60)), (6, (200, 60)), (12, (200, 60)), (6, (72, 24))]
)
def test_crowded_text_stays_inside_the_image_and_its_gaps_vary(length, size) -> None:
    from captcha_cli.data.synthetic import _draw_crowded_text

    widths, starts = [], []
    for seed in range(30):
        image = Image.new("RGB", size, "white")
        _draw_crowded_text(image, "W8mq0Z4kx2Ab"[:length], np.random.default_rng(seed))
        inked = np.flatnonzero((np.asarray(image) < 200).any(axis=(0, 2)))
        assert inked.size and 0 < inked[0] and inked[-1] < size[0] - 1, f"seed {seed}: ink touches a side"
        widths.append(inked[-1] - inked[0])
        starts.append(inked[0])
    # the line's length and place change from captcha to captcha (evenly spaced text would not move)
    if size[0] == 200 and length <= 6:  # a longer line is squeezed to fill the width
        assert np.std(starts) > 2
        assert length == 1 or np.std(widths) > 2


def test_crowded_glyphs_overlap_in_some_captchas_and_stand_apart_in_others() -> None:
    from captcha_cli.data.synthetic import _draw_crowded_text

    blank_columns = []
    for seed in range(40):
        image = Image.new("RGB", (200, 60), "white")
        _draw_crowded_text(image, "HM", np.random.default_rng(seed))
        inked = (np.asarray(image) < 200).any(axis=(0, 2))
        first, last = np.flatnonzero(inked)[[0, -1]]
        blank_columns.append(int((~inked[first:last]).sum()))
    assert min(blank_columns) == 0 and max(blank_columns) >= 5


def test_generate_size_and_bad_options(runner, tmp_path) -> None:
    invoke_json(runner, "generate", tmp_path / "s", "-n", "2", "--width", "120", "--height", "40")
    assert {Image.open(p).size for p in (tmp_path / "s").glob("*.png")} == {(120, 40)}
    result = invoke(runner, "generate", tmp_path / "x", "--style", "wavy")
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "Error: unknown style; choose one of noisy, crowded, simple, arithmetic. Received: style='wavy'"
    )
    result = invoke(runner, "generate", tmp_path / "x", "--length", "four")
    assert result.stderr.strip() == "Error: lengths must look like 4, 4,6 or 4-6. Received: length='four'"


def test_summary_data_json(runner, noisy_dir) -> None:
    data = invoke_json(runner, "summary", "--data", noisy_dir)
    assert data["images"] == data["labelled"] == 24
    assert set(data["charset"]) <= set("0123456789abc")
    assert sum(data["lengths"].values()) == 24 and set(data["lengths"]) <= {"4", "5"}
    assert data["problems"] == []
    assert data["label_source"] == "file name"


def test_summary_data_reports_problems(runner, tmp_path, noisy_dir) -> None:
    for path in list(noisy_dir.glob("*.png"))[:3]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "zz99-broken.png").write_bytes(b"")
    data = invoke_json(runner, "summary", "--data", tmp_path, "--max-length", "4")
    kinds = {row["problem"]: row["count"] for row in data["problems"]}
    assert kinds["zero-byte file"] == 1
    assert data["labelled"] + sum(kinds.values()) == 4
    text = invoke(runner, "summary", "--data", tmp_path)
    assert "zero-byte file" in text.stdout and "delete or re-download" in text.stdout


def test_preprocess_folder_keeps_names(runner, tmp_path, noisy_dir) -> None:
    out = tmp_path / "out"
    data = invoke_json(runner, "preprocess", noisy_dir, out)
    assert data["normalized"]["written"] == 24
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == sorted(p.name for p in noisy_dir.glob("*.png"))
    pixels = np.asarray(Image.open(out / names[0]))
    assert set(np.unique(pixels)) <= {0, 255}


def test_preprocess_autocontrast_keeps_grey_levels_at_full_range(runner, tmp_path, noisy_dir) -> None:
    data = invoke_json(runner, "preprocess", noisy_dir, tmp_path / "out", "--backend", "autocontrast")
    assert data["normalized"]["written"] == 24
    for path in sorted((tmp_path / "out").glob("*.png"))[:3]:
        before, after = (np.asarray(Image.open(f).convert("L")) for f in (noisy_dir / path.name, path))
        low, high = np.percentile(after, (1, 99))
        assert high - low > 215 and high - low > np.ptp(np.percentile(before, (1, 99)))
        assert len(np.unique(after)) > 50  # grey levels kept, not thresholded


def test_preprocess_never_overwrites_without_asking(runner, tmp_path, noisy_dir) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = out / sorted(p.name for p in noisy_dir.glob("*.png"))[0]
    victim.write_bytes(b"mine")
    data = invoke_json(runner, "preprocess", noisy_dir, out)
    assert data["normalized"]["kept_existing"] == 1 and victim.read_bytes() == b"mine"
    data = invoke_json(runner, "preprocess", noisy_dir, out, "--overwrite")
    assert data["normalized"]["written"] == 24 and victim.read_bytes() != b"mine"


def test_preprocess_refuses_to_write_into_input(runner, noisy_dir) -> None:
    result = invoke(runner, "preprocess", noisy_dir, noisy_dir / "sub")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {noisy_dir / 'sub'}: output folder is inside the input {noisy_dir}; choose another folder"
    )


def test_preprocess_one_image_into_a_folder_beside_it(runner, tmp_path, noisy_dir) -> None:
    image = tmp_path / "one.png"
    image.write_bytes(next(noisy_dir.glob("*.png")).read_bytes())
    data = invoke_json(runner, "preprocess", image, tmp_path / "normalized")
    assert data["normalized"]["written"] == 1
    assert Image.open(tmp_path / "normalized" / "one.png").size == Image.open(image).size
    refused = invoke(runner, "preprocess", image, tmp_path)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"Error: {tmp_path}: output folder holds the input {image}, which would be replaced; choose another folder"
    )
    onto_itself = invoke(runner, "preprocess", image, image)
    assert onto_itself.exit_code == 1
    assert onto_itself.stderr.strip() == (
        f"Error: {image}: is a file, not a folder; choose a folder for the normalized images"
    )


def test_preprocess_preview_is_a_real_png(runner, tmp_path, noisy_dir) -> None:
    data = invoke_json(runner, "preprocess", noisy_dir, "--preview", tmp_path / "p.png", "--backend", "pil")
    image = Image.open(tmp_path / "p.png")
    assert image.format == "PNG" and image.width > 400 and image.height > 12 * 60
    assert data["preview"]["images"] == 12
    assert np.asarray(image).std() > 20


def test_preprocess_cache(runner, tmp_path, noisy_dir) -> None:
    data = invoke_json(runner, "preprocess", noisy_dir, "--cache", tmp_path / "c")
    assert data["cache"]["images"] == 24 and data["cache"]["shape"] == [60, 200, 3]
    again = invoke(runner, "preprocess", noisy_dir, "--cache", tmp_path / "c")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_preprocess_reports_bad_files_and_exits_1(runner, tmp_path, noisy_dir) -> None:
    src = tmp_path / "src"
    src.mkdir()
    good = next(noisy_dir.glob("*.png"))
    (src / good.name).write_bytes(good.read_bytes())
    (src / "ab12-bad.png").write_bytes(b"garbage")
    result = invoke(runner, "preprocess", src, tmp_path / "out")
    assert result.exit_code == 1
    assert f"Error: {src / 'ab12-bad.png'}: not an image" in result.stderr
    assert (tmp_path / "out" / good.name).exists()


def test_preprocess_needs_something_to_do(runner, noisy_dir) -> None:
    result = invoke(runner, "preprocess", noisy_dir)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: nothing to do: give OUT, --preview FILE.png or --cache DIR"
