"""The input size and CTC time steps a model takes from its data: chosen, shown and kept."""

from __future__ import annotations

import json

import pytest

from captcha_cli.data.geometry import choose_geometry, steps_wanted
from captcha_cli.spec import ModelSpec, spec_for_arch
from tests.helpers import invoke, invoke_json

LEADING = (2, 2)  # the stem's and the pool's strides
SMALL = (1, 2, 2, 1)  # the small preset's stage strides


@pytest.mark.parametrize(
    ("size", "length", "expected"),
    [
        ((72, 24), 4, (24, 72, (1, 1, 1, 1), 18)),  # wp-rsc: native size, every stage keeps the width
        ((70, 30), 4, (30, 70, (1, 1, 1, 1), 18)),  # henan-digits
        ((200, 60), 6, (60, 200, (1, 2, 1, 1), 25)),  # the original system's captchas
        ((360, 60), 10, (60, 360, (1, 2, 1, 1), 45)),
        ((400, 100), 12, (64, 256, (1, 1, 1, 1), 64)),  # tall images are scaled down to 64 high
        ((60, 20), 12, (20, 192, (1, 1, 1, 1), 48)),  # too narrow for 12 characters: widened
        ((200, 60), 1, (60, 200, (1, 2, 2, 1), 13)),  # enough already: the preset's strides
    ],
)
def test_chosen_geometry(size, length, expected) -> None:
    chosen = choose_geometry([size], length, LEADING, SMALL)
    assert (chosen.height, chosen.width, chosen.stage_width_strides, chosen.time_steps) == expected
    assert chosen.time_steps >= steps_wanted(length) >= 2 * length + 1
    spec = spec_for_arch(
        "small",
        height=chosen.height,
        width=chosen.width,
        stage_width_strides=chosen.stage_width_strides,
        max_length=length,
    )
    assert spec.output_steps == chosen.time_steps  # the spec computes what was chosen


def test_given_height_keeps_the_aspect_and_a_given_width_is_kept() -> None:
    assert choose_geometry([(72, 24)], 4, LEADING, SMALL, height=48).width == 144
    narrow = choose_geometry([(200, 60)], 10, LEADING, SMALL, width=64)
    assert narrow.width == 64 and narrow.time_steps == 16  # too few; training refuses it by name


def test_the_median_size_is_used() -> None:
    sizes = [(100, 40)] * 3 + [(1000, 400)]
    assert choose_geometry(sizes, 2, LEADING, SMALL).height == 40


def test_old_specs_without_width_strides_load_unchanged() -> None:
    old = spec_for_arch("small", max_length=6).to_dict()
    del old["stage_width_strides"]  # a spec saved before the field existed
    spec = ModelSpec.from_dict(old)
    assert spec.stage_width_strides == () and spec.width_strides == (1, 2, 2, 1)
    assert spec.output_steps == 13 and spec.feature_map_size() == (4, 13)


def test_width_strides_must_match_the_stages() -> None:
    from captcha_cli.errors import SpecError

    with pytest.raises(SpecError, match="stage_width_strides must be empty or as long as stage_strides"):
        spec_for_arch("small", stage_width_strides=(1, 1))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Folders of the sizes and lengths the issue names, drawn by `captcha generate`."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("geometry")
    folders = {}
    for name, width, height, length in (("wp", 72, 24, "4"), ("wide", 360, 60, "6"), ("long", 200, 60, "10")):
        folders[name] = root / name
        result = invoke(
            CliRunner(),
            "generate",
            folders[name],
            "-n",
            "12",
            "--width",
            width,
            "--height",
            height,
            "--length",
            length,
            "--charset",
            "0-9",
            "--style",
            "simple",
            "--seed",
            "3",
        )
        assert result.exit_code == 0, result.output
    return folders


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "size", "steps"), [("wp", (24, 72), 18), ("wide", (60, 360), 45), ("long", (60, 200), 50)]
)
def test_small_trains_on_any_geometry_and_keeps_its_choice(runner, tmp_path, generated, name, size, steps) -> None:
    shown = invoke_json(runner, "summary", "--data", generated[name], "--arch", "small")["model_input"]
    assert (shown["height"], shown["width"], shown["time_steps"]) == (*size, steps)
    result = invoke(
        runner,
        "train",
        generated[name],
        "--arch",
        "small",
        "--max-steps",
        "1",
        "--val-every",
        "1",
        "--batch-size",
        "4",
        "--precision",
        "float32",
        "--project",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert f"input          {size[1]}x{size[0]}, {steps} CTC time steps" in result.stderr  # the training panel
    spec = json.loads((tmp_path / "exp" / "best.spec.json").read_text())
    assert (spec["height"], spec["width"]) == size
    model = ModelSpec.from_dict(spec)
    assert model.output_steps == steps >= 2 * model.max_length + 1
    image = sorted(generated[name].glob("*.png"))[0]
    rows = invoke_json(runner, "predict", image, "--model", tmp_path / "exp")
    assert len(rows) == 1 and set(rows[0]["text"]) <= set("0123456789")


def test_a_model_saved_before_width_strides_loads_and_reads_as_before(tmp_path, digits_dir) -> None:
    import numpy as np

    from captcha_cli.inference.readers import Reader
    from captcha_cli.model.modelio import save_model
    from captcha_cli.model.network import build_model
    from captcha_cli.spec import spec_path_for

    spec = spec_for_arch("small", charset="0123456789", max_length=4, stage_blocks=(1, 1, 1, 1))
    path = save_model(build_model(spec), spec, tmp_path / "old.keras")
    images = sorted(digits_dir.glob("*.png"))[:3]
    before = Reader(path).read_files(images)
    saved = json.loads(spec_path_for(path).read_text())
    del saved["stage_width_strides"]  # as the spec files of earlier releases were written
    spec_path_for(path).write_text(json.dumps(saved))
    after = Reader(path).read_files(images)
    assert [p.text for p in after] == [p.text for p in before] and Reader(path).spec.output_steps == 13
    np.testing.assert_allclose([p.confidence for p in after], [p.confidence for p in before], rtol=1e-6)
