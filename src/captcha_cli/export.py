"""The `export` workflow: a trained model in a portable format, with its spec beside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from captcha_cli.errors import CaptchaError
from captcha_cli.modelio import load_model
from captcha_cli.spec import ModelSpec, save_json_atomic

FORMATS = ("savedmodel", "tflite")
SPEC_NAME = "captcha.spec.json"


def export_model(model_path: Path, fmt: str, out: Path, overwrite: bool = False) -> dict:
    """Write `out` (a SavedModel folder, or a folder with `model.tflite`) and `captcha.spec.json`."""
    if fmt not in FORMATS:
        raise CaptchaError(f"unknown export format; choose one of {', '.join(FORMATS)}. Received: format={fmt!r}")
    if out.exists() and not overwrite:
        raise CaptchaError(f"{out}: already exists", hint="pass --overwrite to replace it")
    model, spec, resolved = load_model(model_path)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if fmt == "savedmodel":
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    else:
        tmp.mkdir(parents=True)
        (tmp / "model.tflite").write_bytes(_tflite_bytes(model, spec))
    save_json_atomic(tmp / SPEC_NAME, spec.to_dict())
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return {
        "model": str(resolved),
        "format": fmt,
        "out": str(out),
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def _tflite_bytes(model, spec: ModelSpec) -> bytes:
    """Convert with builtin ops only (any TFLite runtime runs it). The LSTM's loop lowers only
    with static shapes, so the model takes one image per call."""
    import tempfile

    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", lambda x: model(x, training=False), input_signature=[tf.TensorSpec((1, *spec.input_shape), tf.float32)]
    )
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


class ExportedReader:
    """Runs an exported model (SavedModel or TFLite) on uint8 model inputs."""

    def __init__(self, folder: Path) -> None:
        from captcha_cli.spec import load_spec

        self.spec: ModelSpec = load_spec(folder / "captcha.keras")  # reads captcha.spec.json
        if (folder / "model.tflite").is_file():
            self._interpreter = tf.lite.Interpreter(model_path=str(folder / "model.tflite"))
            self._run = self._tflite
        else:
            self._saved = tf.saved_model.load(str(folder))
            self._run = lambda x: self._saved.serve(tf.constant(x)).numpy()

    def _tflite(self, x: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        interpreter.allocate_tensors()
        source = interpreter.get_input_details()[0]["index"]
        target = interpreter.get_output_details()[0]["index"]
        rows = []
        for image in x:
            interpreter.set_tensor(source, image[None])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(target)[0])
        return np.stack(rows)

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self._run(images.astype(np.float32) / 255.0)
