"""`captcha export`: exported models read the same strings as the Keras model."""

from __future__ import annotations

import numpy as np
import pytest

from captcha_cli.inference.readers import LiteReader, OnnxReader, Reader
from captcha_cli.model.decoding import decode_logits
from tests.helpers import invoke, invoke_json, run_in_fresh_process

READERS = {"tflite": LiteReader, "onnx": OnnxReader}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["savedmodel", "tflite", "onnx"])
def test_export_parity(runner, trained_run, digits_dir, tmp_path, fmt) -> None:
    run, _ = trained_run
    data = invoke_json(runner, "export", run, "--format", fmt, "--out", tmp_path / fmt)
    assert data["format"] == fmt and (tmp_path / fmt / "captcha.spec.json").is_file()
    keras_reader = Reader(run / "best.keras")
    paths = sorted(digits_dir.glob("*.png"))[:16]
    images = np.stack([keras_reader.load(p) for p in paths])
    expected = [p.text for p in keras_reader.read_arrays(images, [str(p) for p in paths])]
    if fmt in READERS:
        exported = READERS[fmt](tmp_path / fmt)
        assert exported.spec == keras_reader.spec
        logits = exported.logits(images)
    else:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(tmp_path / fmt))
        logits = loaded.serve(tf.constant(images / 255.0, tf.float32)).numpy()
    ids, _, _ = decode_logits(logits, keras_reader.spec)
    assert [keras_reader.spec.codec.decode(row) for row in ids] == expected
    np.testing.assert_allclose(logits, keras_reader.logits(images), atol=1e-3, rtol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_export_of_a_ctc_model_with_the_sequence_shortcut(runner, tiny_spec, digits_dir, tmp_path, fmt) -> None:
    from dataclasses import replace

    from captcha_cli.model.modelio import save_model
    from captcha_cli.model.network import build_model

    spec = replace(tiny_spec, loss="ctc", sequence_shortcut=True, stage_strides=(1, 1, 1, 1))
    path = save_model(build_model(spec), spec, tmp_path / "shortcut.keras")
    invoke_json(runner, "export", path, "--format", fmt, "--out", tmp_path / fmt)
    keras_reader, exported = Reader(path), READERS[fmt](tmp_path / fmt)
    assert exported.spec == spec
    images = np.stack([keras_reader.load(p) for p in sorted(digits_dir.glob("*.png"))[:8]])
    np.testing.assert_allclose(exported.logits(images), keras_reader.logits(images), atol=1e-3, rtol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_predict_with_an_export_needs_no_tensorflow(runner, trained_run, digits_dir, tmp_path, fmt) -> None:
    import json

    invoke_json(runner, "export", trained_run[0], "--format", fmt, "--out", tmp_path / fmt)
    image = sorted(digits_dir.glob("*.png"))[0]
    expected = invoke(runner, "predict", image, "--model", trained_run[0] / "best.keras").stdout.strip()
    stdout, loaded = run_in_fresh_process(
        ["predict", str(image), "--model", str(tmp_path / fmt), "--json"], ("tensorflow", "keras")
    )
    assert loaded == []
    rows = json.loads(stdout)
    assert rows[0]["text"] == expected


def test_export_refuses_to_overwrite(runner, trained_run, tmp_path) -> None:
    (tmp_path / "out").mkdir()
    result = invoke(runner, "export", trained_run[0], "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'out'}: already exists")
    result = invoke(runner, "export", trained_run[0], "--format", "coreml", "--out", tmp_path / "x")
    assert "Received: format='coreml'" in result.stderr


def test_onnx_without_its_packages_is_a_clear_error(runner, trained_run, digits_dir, tmp_path, monkeypatch) -> None:
    import sys

    invoke_json(runner, "export", trained_run[0], "--format", "onnx", "--out", tmp_path / "onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    image = sorted(digits_dir.glob("*.png"))[0]
    result = invoke(runner, "predict", image, "--model", tmp_path / "onnx")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {tmp_path / 'onnx'}: reading an ONNX export needs onnxruntime" in result.stderr
    assert "pip install 'captcha-cli[onnx]'" in result.stderr
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    result = invoke(runner, "export", trained_run[0], "--format", "onnx", "--out", tmp_path / "again")
    assert result.exit_code == 1 and "Error: ONNX export needs tf2onnx and onnx" in result.stderr
    assert not (tmp_path / "again").exists() and not (tmp_path / ".again.tmp").exists()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_a_damaged_export_is_a_clear_error(runner, trained_run, digits_dir, tmp_path, fmt) -> None:
    invoke_json(runner, "export", trained_run[0], "--format", fmt, "--out", tmp_path / fmt)
    model_file = tmp_path / fmt / f"model.{fmt}"
    model_file.write_bytes(model_file.read_bytes()[:200])  # cut short, as by a failed copy
    image = sorted(digits_dir.glob("*.png"))[0]
    result = invoke(runner, "predict", image, "--model", tmp_path / fmt)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: {model_file}: cannot load the ")
