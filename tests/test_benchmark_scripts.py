"""Every benchmark script still imports and parses its options (a refactor must not break one
silently): each script runs with `--help` in this process, each helper module imports."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if "__main__" in p.read_text())
HELPERS = sorted(p for p in BENCHMARKS.glob("*.py") if p not in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_help(script: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("helper", HELPERS, ids=lambda p: p.name)
def test_helper_imports(helper: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    names = runpy.run_path(str(helper), run_name=helper.stem)
    assert any(callable(v) and getattr(v, "__module__", None) == helper.stem for v in names.values())


def test_levers_blocks_keep_the_chosen_geometry(monkeypatch) -> None:
    """`levers.py --stage-blocks` moves only the depth: the tool still chooses the input and time steps."""
    from captcha_cli.data.datasets import Sample
    from captcha_cli.data.geometry import spec_for_data

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    levers = runpy.run_path(str(BENCHMARKS / "levers.py"), run_name="levers")
    args = levers["build_parser"]().parse_args(["DATA", "--name", "run", "--stage-blocks", "2,2,1,1"])
    overrides = levers["spec_overrides"](args)
    assert overrides == {"stage_blocks": (2, 2, 1, 1)}
    samples = [Sample(Path(f"{i}.png"), "abcdef", size=(200, 60)) for i in range(3)]
    spec = spec_for_data("small", samples, overrides=overrides)
    preset = spec_for_data("small", samples)
    assert spec.stage_blocks == (2, 2, 1, 1) and preset.stage_blocks == (2, 2, 2, 2)
    assert (
        (spec.width, spec.height, spec.output_steps)
        == (preset.width, preset.height, preset.output_steps)
        == (200, 60, 25)
    )


def test_levers_size_and_strides_are_parsed_once(monkeypatch) -> None:
    """`--size` and `--width-strides` become the spec's fields; a bad size is argparse's error, not a traceback."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    levers = runpy.run_path(str(BENCHMARKS / "levers.py"), run_name="levers")
    parser = levers["build_parser"]()
    args = parser.parse_args(["DATA", "--name", "run", "--size", "152x60", "--width-strides", "1,2,1,1"])
    assert levers["spec_overrides"](args) == {"width": 152, "height": 60, "stage_width_strides": (1, 2, 1, 1)}
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["DATA", "--name", "run", "--size", "200"])
    assert exit_info.value.code == 2


def test_style_likeness_reads_each_mix_style(trained_run, monkeypatch) -> None:
    """`style_likeness.py` draws the mix's own captchas for the run's charset and reads them with its
    model: every style scored, shares in [0, 1], and the same figures for the same seed."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    script = runpy.run_path(str(BENCHMARKS / "style_likeness.py"), run_name="style_likeness")
    run, lengths = script["run_and_lengths"](f"{trained_run[0]}:4")
    assert (run, lengths) == (trained_run[0], (4,))
    first = script["likeness"](run, lengths, 6, 3)
    assert set(first) == {"noisy", "crowded", "simple"}
    for scores in first.values():
        assert 0 <= scores["read"] <= 1 and 0 <= scores["mean_confidence"] <= 1
    assert script["likeness"](run, lengths, 6, 3) == first
    with pytest.raises(argparse.ArgumentTypeError, match="RUN:LENGTHS"):
        script["run_and_lengths"]("4,6")
    with pytest.raises(argparse.ArgumentTypeError, match="lengths must look like"):
        script["run_and_lengths"]("runs/x:four")
