"""THE image module: decode any image, the report's OpenCV and PIL normalizations, resize, scale.

No TensorFlow here. Every normalization is a list of named steps so that `verify` and the
tests can check each step's output on its own.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps, UnidentifiedImageError

from captcha_cli.errors import ImageError, ImageTooLargeError, SpecError
from captcha_cli.spec import PREPROCESSING_BACKENDS

try:  # OpenCV is optional at run time: the PIL path is the report's fallback
    import cv2
except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
    cv2 = None

BACKENDS = ("auto", *PREPROCESSING_BACKENDS)
Step = tuple[str, np.ndarray]


@dataclass(frozen=True)
class OpenCVParams:
    """Parameters of the OpenCV path (REPORT_EN.md section 4)."""

    blur_kernel: tuple[int, int] = (3, 3)
    blur_sigma: float = 0.0
    clahe_clip: float = 3.0
    clahe_grid: tuple[int, int] = (8, 8)
    open_kernel: tuple[int, int] = (2, 2)
    close_kernel: tuple[int, int] = (3, 3)
    invert_below: float = 128.0
    sharpen_kernel: tuple[tuple[int, ...], ...] = ((-1, -1, -1), (-1, 9, -1), (-1, -1, -1))


@dataclass(frozen=True)
class PILParams:
    """Parameters of the PIL fallback path (REPORT_EN.md section 4)."""

    contrast: float = 3.0
    brightness: float = 1.2
    sharpen_passes: int = 2
    threshold: int = 128
    invert_below: float = 128.0


OPENCV = OpenCVParams()
PIL_PARAMS = PILParams()
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as PIL's convert("L")
AUTOCONTRAST_CUTOFF = 1.0  # percent of the darkest and of the lightest pixels let saturate


def opencv_available() -> bool:
    return cv2 is not None


def resolve_backend(name: str, opencv: bool | None = None) -> str:
    """The concrete backend for a choice: `auto` is OpenCV when it imports, else PIL."""
    if name not in BACKENDS:
        raise SpecError(
            f"unknown preprocessing backend; choose one of {', '.join(BACKENDS)}. Received: backend={name!r}"
        )
    has_cv2 = opencv_available() if opencv is None else opencv
    if name == "auto":
        return "opencv" if has_cv2 else "pil"
    if name == "opencv" and not has_cv2:
        raise SpecError(
            "the opencv backend needs OpenCV (pip install opencv-python-headless)",
            hint="or choose --backend pil",
        )
    return name


def opencv_steps(rgb: np.ndarray, p: OpenCVParams = OPENCV) -> list[Step]:
    """The OpenCV normalization, step by step: gray, blur, CLAHE, Otsu, open, close, invert,
    sharpen, RGB. Input and output are uint8 RGB arrays."""
    steps: list[Step] = []
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    steps.append(("gray", gray))
    blurred = cv2.GaussianBlur(gray, p.blur_kernel, p.blur_sigma)
    steps.append(("gaussian_blur", blurred))
    clahe = cv2.createCLAHE(clipLimit=p.clahe_clip, tileGridSize=p.clahe_grid).apply(blurred)
    steps.append(("clahe", clahe))
    _, binary = cv2.threshold(clahe, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    steps.append(("otsu", binary))
    opened = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, p.open_kernel))
    steps.append(("open", opened))
    closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, p.close_kernel))
    steps.append(("close", closed))
    inverted = cv2.bitwise_not(closed) if np.mean(closed) < p.invert_below else closed
    steps.append(("invert", inverted))
    sharpened = cv2.filter2D(inverted, -1, np.array(p.sharpen_kernel, dtype=np.float32))
    steps.append(("sharpen", sharpened))
    steps.append(("rgb", cv2.cvtColor(sharpened, cv2.COLOR_GRAY2RGB)))
    return steps


def pil_steps(rgb: np.ndarray, p: PILParams = PIL_PARAMS) -> list[Step]:
    """The PIL normalization, step by step: L, contrast, brightness, sharpen x2, binarize,
    invert, RGB. Input and output are uint8 RGB arrays."""
    steps: list[Step] = []
    image = Image.fromarray(rgb).convert("L")
    steps.append(("gray", np.asarray(image)))
    image = ImageEnhance.Contrast(image).enhance(p.contrast)
    steps.append(("contrast", np.asarray(image)))
    image = ImageEnhance.Brightness(image).enhance(p.brightness)
    steps.append(("brightness", np.asarray(image)))
    for i in range(p.sharpen_passes):
        image = image.filter(ImageFilter.SHARPEN)
        steps.append((f"sharpen_{i + 1}", np.asarray(image)))
    image = image.point(lambda x: 255 if x > p.threshold else 0)
    steps.append(("binarize", np.asarray(image)))
    if np.mean(np.asarray(image)) < p.invert_below:
        image = ImageOps.invert(image)
    steps.append(("invert", np.asarray(image)))
    steps.append(("rgb", np.asarray(image.convert("RGB"))))
    return steps


def autocontrast_steps(rgb: np.ndarray, cutoff: float = AUTOCONTRAST_CUTOFF) -> list[Step]:
    """Stretch the image's grey levels from its `cutoff` to its 100-`cutoff` percentile onto 0-255.

    One gain and offset for all three channels, so colours keep their order and nothing is
    thresholded: every stroke, line, dot and anti-aliased edge stays, at full contrast.
    """
    pixels = rgb.astype(np.float32)
    low, high = np.percentile(pixels @ LUMA, (cutoff, 100 - cutoff))
    gain = 255.0 / max(float(high - low), 1.0)
    stretched = np.clip((pixels - low) * gain + 0.5, 0, 255).astype(np.uint8)
    return [("stretched", stretched)]


STEP_FUNCTIONS: dict[str, Callable[[np.ndarray], list[Step]]] = {
    "opencv": opencv_steps,
    "pil": pil_steps,
    "autocontrast": autocontrast_steps,
}


def normalize(rgb: np.ndarray, backend: str) -> np.ndarray:
    """Color-normalize a uint8 RGB image with a concrete backend (`none` returns it unchanged)."""
    if backend == "none":
        return rgb
    return STEP_FUNCTIONS[backend](rgb)[-1][1]


def decode_image(source: Path | bytes, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Decode any common image (PNG, JPEG, GIF, BMP, WebP, TIFF; any mode) to uint8 RGB.

    Transparent images are composited on white, 16-bit images scaled to 8 bits, GIFs give
    their first frame. Errors name the file and the problem; an image of more than `max_pixels`
    is refused from its header, before it is decoded.
    """
    label = name or (str(source) if isinstance(source, Path) else "<bytes>")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            stream = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(stream) as image:
                if max_pixels is not None and image.width * image.height > max_pixels:
                    raise ImageTooLargeError(
                        f"{label}: image too large ({image.width}x{image.height} is over the limit of "
                        f"{max_pixels:,} pixels)"
                    )
                image.seek(0)
                image.load()
                return to_rgb(image)
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{label}: is a directory") from None
    except PermissionError:
        raise ImageError(f"{label}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{label}: image too large (over PIL's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} pixels)"
        ) from None
    except UnidentifiedImageError:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        problem = "empty file (0 bytes)" if size == 0 else "not an image"
        raise ImageError(f"{label}: {problem}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated image" if "truncated" in str(exc).lower() else f"cannot decode ({exc})"
        raise ImageError(f"{label}: {reason}") from None


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL image as uint8 RGB; alpha composited on white, 16/32-bit gray scaled down."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        data = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or data.max() > 255 else 255.0
        gray = np.clip(data / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.stack([gray] * 3, axis=-1)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a uint8 image to (height, width): area averaging to shrink, bilinear to grow."""
    if rgb.shape[:2] == (height, width):
        return rgb
    if cv2 is not None:
        shrink = rgb.shape[0] > height or rgb.shape[1] > width
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def prepare_uint8(rgb: np.ndarray, height: int, width: int, channels: int, backend: str) -> np.ndarray:
    """Normalize the full image, resize to the model's input, keep uint8 (H, W, channels)."""
    out = resize(normalize(rgb, backend), height, width)
    if channels == 1:
        out = np.asarray(Image.fromarray(out).convert("L"))[..., None]
    return out


def scale(uint8: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1]."""
    return uint8.astype(np.float32) / 255.0


def load_for_model(path: Path, height: int, width: int, channels: int, backend: str) -> np.ndarray:
    """Decode, normalize, resize: the uint8 input of the model for one file."""
    return prepare_uint8(decode_image(path), height, width, channels, backend)
