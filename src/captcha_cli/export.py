"""The `export` workflow: a trained model in a portable format, with its spec beside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import tensorflow as tf

from captcha_cli.errors import CaptchaError
from captcha_cli.inference import EXPORT_SPEC, TFLITE_FILE
from captcha_cli.model import build_model
from captcha_cli.modelio import load_model
from captcha_cli.spec import ModelSpec, save_json_atomic

FORMATS = ("savedmodel", "tflite")


def export_model(model_path: Path, fmt: str, out: Path, overwrite: bool = False) -> dict:
    """Write `out` (a SavedModel folder, or a folder with `model.tflite`) and `captcha.spec.json`."""
    if fmt not in FORMATS:
        raise CaptchaError(f"unknown export format; choose one of {', '.join(FORMATS)}. Received: format={fmt!r}")
    if out.exists() and not overwrite:
        raise CaptchaError(f"{out}: already exists", hint="pass --overwrite to replace it")
    trained, spec, resolved = load_model(model_path)
    model = build_model(spec)  # float32 whatever the training precision: portable to every runtime
    model.set_weights(trained.get_weights())
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if fmt == "savedmodel":
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    else:
        tmp.mkdir(parents=True)
        (tmp / TFLITE_FILE).write_bytes(_tflite_bytes(model, spec))
    save_json_atomic(tmp / EXPORT_SPEC, spec.to_dict())
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
