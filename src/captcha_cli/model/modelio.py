"""Saving and loading models with their specs; writes go to a temporary name first."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

import captcha_cli.model.kernels  # noqa: F401  (registers FusedBatchNormalization and SmallMapConv2D, so saved models load)
from captcha_cli.atomic import atomic_write
from captcha_cli.errors import ModelFileError
from captcha_cli.spec import ModelSpec, load_spec, save_spec

MODEL_SUFFIX = ".keras"


def resolve_model_path(path: Path) -> Path:
    """A `.keras` file, or the best (else last) model of a run folder."""
    if path.is_dir():
        for name in ("best.keras", "last.keras"):
            if (path / name).is_file():
                return path / name
        raise ModelFileError(
            f"{path}: no best.keras or last.keras in this folder",
            hint="pass a .keras file or a run folder made by `captcha train`",
        )
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.suffix != MODEL_SUFFIX:
        raise ModelFileError(f"{path}: not a .keras model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path}: not a .keras model (zip) archive",
            hint="it may be truncated or another kind of file: copy or download it again",
        )
    return path


def load_model(path: Path) -> tuple[keras.Model, ModelSpec, Path]:
    """Load a saved model and its spec; returns (model, spec, resolved path)."""
    path = resolve_model_path(path)
    spec = load_spec(path)
    try:
        # safe_mode: a model that carries Python code (a Lambda layer) is refused, never run
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a damaged archive
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ModelFileError(
                f"{path}: refused: the model holds Python code (a Lambda layer), which loading would run",
                hint="captcha loads only models without code; train one with `captcha train`",
            ) from exc
        raise ModelFileError(f"{path}: cannot load model ({type(exc).__name__}: {reason})") from exc
    return model, spec, path


def save_model(model: keras.Model, spec: ModelSpec, path: Path) -> Path:
    """Save model and spec atomically: write `.NAME.tmp.keras`, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        model.save(tmp)
        save_spec(spec, path)
    return path
