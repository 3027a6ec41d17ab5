"""Read captchas with a trained model (Keras) or an exported TFLite or ONNX model (no TensorFlow needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captcha_cli.data.preprocessing import decode_image, load_for_model, prepare_uint8, scale
from captcha_cli.errors import ImageError, ModelFileError
from captcha_cli.model.decoding import Constraint, decode_logits
from captcha_cli.spec import ModelSpec, read_spec_file

TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"
ONNX_INSTALL_HINT = "pip install 'captcha-cli[onnx]'"  # tf2onnx, onnx and ONNX Runtime
EXPORT_SPEC = "captcha.spec.json"


@dataclass
class Prediction:
    path: str
    text: str
    confidence: float
    position_probs: list[float]


def newest_best_model(project: Path) -> Path:
    """The most recently written `best.keras` under a project folder (default `runs/`)."""
    found = sorted(project.glob("*/best.keras"), key=lambda p: p.stat().st_mtime) if project.is_dir() else []
    if not found:
        raise ModelFileError(
            f"no trained model found under {project}/", hint="train one with `captcha train`, or pass --model PATH"
        )
    return found[-1]


def is_export(path: Path, model_file: str) -> bool:
    """A folder written by `captcha export` holding `model_file` (TFLITE_FILE or ONNX_FILE)."""
    return path.is_dir() and (path / model_file).is_file()


class ImageReader:
    """Reads images in batches with some model's logits; subclasses say how logits are computed."""

    spec: ModelSpec
    path: Path

    def logits(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def load(self, path: Path) -> np.ndarray:
        spec = self.spec
        return load_for_model(path, spec.height, spec.width, spec.channels, spec.preprocessing)

    def load_bytes(self, data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
        """The model input for an encoded image held in memory (a request body)."""
        spec = self.spec
        rgb = decode_image(data, name, max_pixels)
        return prepare_uint8(rgb, spec.height, spec.width, spec.channels, spec.preprocessing)

    def read_arrays(
        self, images: np.ndarray, paths: Sequence[str], constraint: Constraint | None = None
    ) -> list[Prediction]:
        """Predictions for uint8 model inputs, with the model's calibrated estimate that the whole
        string is right as confidence (see `decode_logits`), within `constraint` when given."""
        ids, probs, confidence = decode_logits(self.logits(images), self.spec, constraint)
        codec = self.spec.codec
        fold = constraint is not None and constraint.ignore_case
        return [
            Prediction(path, codec.decode(row).lower() if fold else codec.decode(row), float(c), [float(v) for v in p])
            for path, row, p, c in zip(paths, ids, probs, confidence, strict=True)
        ]

    def read_files(
        self,
        paths: Sequence[Path],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
        on_error: Callable[[ImageError], None] | None = None,
        constraint: Constraint | None = None,
    ) -> list[Prediction]:
        """Predict files in batches; unreadable files go to `on_error` and are skipped."""
        results: list[Prediction] = []
        for start in range(0, len(paths), batch_size):
            arrays, names = [], []
            for path in paths[start : start + batch_size]:
                try:
                    arrays.append(self.load(path))
                    names.append(str(path))
                except ImageError as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
            if arrays:
                results.extend(self.read_arrays(np.stack(arrays), names, constraint))
            if progress:
                progress(len(paths[start : start + batch_size]))
        return results


class Reader(ImageReader):
    """A Keras model (`.keras` file or run folder) with its spec."""

    def __init__(self, model_path: Path) -> None:
        import tensorflow as tf

        from captcha_cli.model.modelio import load_model

        self.model, self.spec, self.path = load_model(model_path)
        # one traced graph for any batch size: served eagerly, a one-image request took 111 ms (p50,
        # benchmarks/serve_speed.py on a 2-core AMD EPYC, 2026-12-02)
        self._forward = tf.function(
            lambda x: tf.cast(self.model(x, training=False), tf.float32),
            input_signature=[tf.TensorSpec((None, *self.spec.input_shape), tf.float32)],
        )

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self._forward(scale(images)).numpy()


class ExportReader(ImageReader):
    """A folder written by `captcha export`: its `model_file` and the spec saved beside it."""

    model_file: str

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        self.path = folder / self.model_file
        self.spec = read_spec_file(folder / EXPORT_SPEC)
        self.threads = threads  # the runtime's own threads; None: its default (every core)


class LiteReader(ExportReader):
    """A TFLite export run by LiteRT (`ai-edge-litert`) when installed, else by TensorFlow's
    interpreter. The export takes one image per call."""

    model_file = TFLITE_FILE

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        super().__init__(folder, threads)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - exercised where LiteRT is not installed
            from captcha_cli import runtime

            runtime.import_tensorflow()
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter  # noqa: N806
        from captcha_cli.runtime import native_logs_hidden

        try:
            with native_logs_hidden():  # the XNNPACK delegate announces itself on stderr
                self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # what the interpreter raises for a damaged file
            raise ModelFileError(f"{self.path}: cannot load the TFLite model ({exc})") from exc
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]

    def logits(self, images: np.ndarray) -> np.ndarray:
        rows = []
        for image in scale(images):
            self.interpreter.set_tensor(self._input, image[None])
            self.interpreter.invoke()
            rows.append(self.interpreter.get_tensor(self._output)[0])
        return np.stack(rows)


class OnnxReader(ExportReader):
    """An ONNX export run by ONNX Runtime on the CPU, any number of images per call."""

    model_file = ONNX_FILE

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        super().__init__(folder, threads)
        try:
            import onnxruntime
        except ImportError as exc:
            raise ModelFileError(
                f"{folder}: reading an ONNX export needs onnxruntime ({exc})", hint=ONNX_INSTALL_HINT
            ) from exc
        try:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or 0
            self.runtime = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own kinds for a damaged file
            raise ModelFileError(f"{self.path}: cannot load the ONNX model ({type(exc).__name__}: {exc})") from exc
        self._input = self.runtime.get_inputs()[0].name

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self.runtime.run(None, {self._input: scale(images)})[0]


def open_reader(path: Path, threads: int | None = None) -> ImageReader:
    """A reader for a `.keras` model, a run folder, or a TFLite or ONNX export folder; `threads`
    caps an export runtime's threads (several `serve` workers share the cores)."""
    for export_reader in (LiteReader, OnnxReader):
        if is_export(path, export_reader.model_file):
            return export_reader(path, threads)
    from captcha_cli import runtime

    runtime.import_tensorflow()
    return Reader(path)
