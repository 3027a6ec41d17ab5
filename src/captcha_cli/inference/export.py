"""The `export` workflow: a trained model in a portable format, with its spec beside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import tensorflow as tf

from captcha_cli.errors import CaptchaError
from captcha_cli.inference.readers import EXPORT_SPEC, ONNX_FILE, ONNX_INSTALL_HINT, TFLITE_FILE
from captcha_cli.model.modelio import load_model
from captcha_cli.model.network import build_model
from captcha_cli.spec import ModelSpec, save_json_atomic

FORMATS = ("savedmodel", "tflite", "onnx")


def export_model(model_path: Path, fmt: str, out: Path, overwrite: bool = False) -> dict:
    """Write `out` (a SavedModel folder, or a folder with `model.tflite` or `model.onnx`) and
    `captcha.spec.json`."""
    if fmt not in FORMATS:
        raise CaptchaError(f"unknown export format; choose one of {', '.join(FORMATS)}. Received: format={fmt!r}")
    if out.exists() and not overwrite:
        raise CaptchaError(f"{out}: already exists", hint="pass --overwrite to replace it")
    trained, spec, resolved = load_model(model_path)
    model = build_model(spec)  # float32 whatever the training precision: portable to every runtime
    model.set_weights(trained.get_weights())
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(model, spec, fmt, tmp)
    except BaseException:  # a failed or interrupted export leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return {
        "model": str(resolved),
        "format": fmt,
        "out": str(out),
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def _write(model, spec: ModelSpec, fmt: str, folder: Path) -> None:
    """The export's files in `folder`: the model in `fmt`, and the spec."""
    if fmt == "savedmodel":
        model.export(str(folder), format="tf_saved_model", verbose=False)
    else:
        folder.mkdir(parents=True)
        if fmt == "onnx":
            _write_onnx(model, spec, folder / ONNX_FILE)
        else:
            (folder / TFLITE_FILE).write_bytes(_tflite_bytes(model, spec))
    save_json_atomic(folder / EXPORT_SPEC, spec.to_dict())


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


def _write_onnx(model, spec: ModelSpec, path: Path) -> None:
    """Convert with tf2onnx (the `onnx` extra); any batch size, input named `image`."""
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise CaptchaError(f"ONNX export needs tf2onnx and onnx ({exc})", hint=ONNX_INSTALL_HINT) from exc
    from captcha_cli.runtime import native_logs_hidden

    signature = [tf.TensorSpec((None, *spec.input_shape), tf.float32, name="image")]
    with native_logs_hidden():
        model.export(str(path), format="onnx", input_signature=signature, verbose=False)
