"""`captcha summary` through the CLI."""

from __future__ import annotations

from captcha_cli.model.modelio import save_model
from captcha_cli.model.network import build_model
from tests.helpers import invoke, invoke_json


def test_summary_default_is_the_report(runner) -> None:
    result = invoke(runner, "summary")
    assert result.exit_code == 0, result.output
    assert "32,054,714" in result.stdout
    assert "122.28 MB" in result.stdout
    for part in ("stem", "conv2_x", "conv5_x", "sequence head", "fc", "output"):
        assert part in result.stdout


def test_summary_json(runner) -> None:
    data = invoke_json(runner, "summary")
    assert data["total_params"] == 32_054_714
    assert data["trainable_params"] + data["non_trainable_params"] == 32_054_714
    assert data["size_mb"] == 122.28
    assert data["input_shape"] == [None, 60, 200, 3]
    assert data["output_shape"] == [None, 378]
    assert data["macs_per_image"] == sum(p["macs"] for p in data["parts"]) > 9e8
    assert [p["name"] for p in data["parts"]][0] == "stem"
    assert sum(p["params"] for p in data["parts"]) == 32_054_714


def test_summary_overrides(runner) -> None:
    data = invoke_json(runner, "summary", "--arch", "small", "--max-length", "4", "--charset", "0-9")
    assert data["output_shape"] == [None, 13 * 11]  # the small preset reads with CTC over 13 time steps
    assert data["charset"] == "0-9"
    assert data["arch"] == "small"


def test_summary_saved_model(runner, tmp_path, tiny_spec) -> None:
    model = build_model(tiny_spec)
    save_model(model, tiny_spec, tmp_path / "best.keras")
    data = invoke_json(runner, "summary", "--model", tmp_path)
    assert data["total_params"] == model.count_params()
    assert data["model_path"] == str(tmp_path / "best.keras")


def test_summary_bad_charset(runner) -> None:
    result = invoke(runner, "summary", "--charset", "z-a")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: charset range z-a runs backwards. Received: charset='z-a'"
