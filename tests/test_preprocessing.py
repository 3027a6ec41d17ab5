"""The preprocessing module: decoding every common image, and the normalizations by behaviour."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captcha_cli.data import preprocessing
from captcha_cli.data.preprocessing import (
    decode_image,
    normalize,
    opencv_steps,
    pil_steps,
    prepare_uint8,
    resolve_backend,
)
from captcha_cli.data.synthetic import sample
from captcha_cli.errors import ImageError, SpecError


@pytest.fixture(scope="module")
def captcha_rgb() -> np.ndarray:
    return np.asarray(sample("noisy", 1, 0, "0123456789", (5,))[1])


def _save(tmp_path: Path, image: Image.Image, name: str, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    ("mode", "fmt", "suffix"),
    [
        ("RGB", "PNG", "png"),
        ("RGBA", "PNG", "png"),
        ("LA", "PNG", "png"),
        ("L", "PNG", "png"),
        ("1", "PNG", "png"),
        ("P", "PNG", "png"),
        ("I;16", "PNG", "png"),
        ("RGB", "JPEG", "jpg"),
        ("L", "JPEG", "jpg"),
        ("CMYK", "JPEG", "jpg"),
        ("P", "GIF", "gif"),
        ("RGB", "BMP", "bmp"),
        ("RGB", "WEBP", "webp"),
        ("RGBA", "WEBP", "webp"),
        ("RGB", "TIFF", "tif"),
        ("I;16", "TIFF", "tiff"),
    ],
)
def test_decodes_every_common_mode_and_format(tmp_path, captcha_rgb, mode, fmt, suffix) -> None:
    base = Image.fromarray(captcha_rgb)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    else:
        image = base.convert(mode)
    path = _save(tmp_path, image, f"ab12-x.{suffix}", format=fmt)
    rgb = decode_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (60, 200, 3)
    gray = np.asarray(base.convert("L"), dtype=float)
    assert abs(rgb.mean() - gray.mean()) < 40  # same picture, not black or garbage
    out = prepare_uint8(rgb, 60, 200, 3, "opencv")
    assert out.shape == (60, 200, 3)


def test_transparency_is_composited_on_white(tmp_path) -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:10, 5:10] = (0, 0, 0, 255)
    rgb = decode_image(_save(tmp_path, Image.fromarray(rgba, "RGBA"), "t.png"))
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[7, 7].tolist() == [0, 0, 0]


def test_16_bit_is_scaled_not_clipped(tmp_path) -> None:
    data = np.full((20, 20), 32768, np.uint16)
    rgb = decode_image(_save(tmp_path, Image.fromarray(data), "s.png"))
    assert 125 <= rgb[0, 0, 0] <= 130


def test_gif_gives_first_frame(tmp_path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ("white", "black")]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert decode_image(path).mean() > 250


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"hello, not an image", "not an image"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, content, message) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        decode_image(path)
    assert info.value.message == f"{path}: {message}"


def test_truncated_file(tmp_path, captcha_rgb) -> None:
    data = io.BytesIO()
    Image.fromarray(captcha_rgb).save(data, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut.png: truncated image"):
        decode_image(path)


def test_decompression_bomb(tmp_path, monkeypatch) -> None:
    path = _save(tmp_path, Image.new("L", (100, 100)), "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match="big.png: image too large"):
        decode_image(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ImageError, match="nope.png: no such file"):
        decode_image(tmp_path / "nope.png")


@pytest.mark.parametrize("backend", ["opencv", "pil"])
def test_output_is_pure_black_and_white_dark_on_light(captcha_rgb, backend) -> None:
    for image in (captcha_rgb, 255 - captcha_rgb):
        out = normalize(image, backend)
        assert set(np.unique(out)) <= {0, 255}
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
        assert out.mean() > 128  # light ground
        assert 0 < (out == 0).mean() < 0.5  # some dark text


def test_inversion_flips_light_text_on_dark(captcha_rgb) -> None:
    dark_ground = 255 - captcha_rgb
    steps = dict(opencv_steps(dark_ground))
    assert steps["close"].mean() < 128
    assert np.array_equal(steps["invert"], 255 - steps["close"])
    steps = dict(opencv_steps(captcha_rgb))
    assert np.array_equal(steps["invert"], steps["close"])


def test_clahe_raises_local_contrast(captcha_rgb) -> None:
    steps = dict(opencv_steps(captcha_rgb))
    assert steps["clahe"].std() > steps["gaussian_blur"].std()


def test_otsu_is_binary_and_morphology_removes_specks() -> None:
    image = np.full((40, 40), 255, np.uint8)
    image[10:30, 10:16] = 0  # a stroke
    image[2, 2] = 0  # a single-pixel speck
    rgb = np.stack([image] * 3, axis=-1)
    steps = dict(opencv_steps(rgb))
    assert set(np.unique(steps["otsu"])) <= {0, 255}
    assert steps["close"][2, 2] == 255  # the speck is gone
    assert (steps["close"][10:30, 10:16] == 0).mean() > 0.75  # the stroke stays


def test_pil_path_steps(captcha_rgb) -> None:
    steps = pil_steps(captcha_rgb)
    names = [n for n, _ in steps]
    assert names == ["gray", "contrast", "brightness", "sharpen_1", "sharpen_2", "binarize", "invert", "rgb"]
    d = dict(steps)
    assert d["contrast"].std() > d["gray"].std()
    assert d["brightness"].mean() > d["contrast"].mean()
    assert set(np.unique(d["binarize"])) <= {0, 255}


def test_resize_and_scale(captcha_rgb) -> None:
    big = np.asarray(Image.fromarray(captcha_rgb).resize((400, 130)))
    out = prepare_uint8(big, 60, 200, 3, "none")
    assert out.shape == (60, 200, 3)
    gray = prepare_uint8(big, 60, 200, 1, "opencv")
    assert gray.shape == (60, 200, 1)


def test_autocontrast_stretches_a_faint_captcha_to_full_range_and_keeps_its_order() -> None:
    faint = np.full((60, 200, 3), 240, np.uint8)
    faint[20:40, 30:170] = (200, 190, 210)  # text 40 grey levels darker than the paper
    faint[28:32, 30:170] = (220, 215, 225)  # a lighter line through it
    out = normalize(faint, "autocontrast")
    assert out.dtype == np.uint8 and out.shape == faint.shape
    assert out[0, 0].tolist() == [255, 255, 255]
    grey = out.astype(np.float32) @ preprocessing.LUMA
    assert grey[25, 50] < 25 and 100 < grey[30, 50] < 200  # text near black, the line between it and paper
    assert out[25, 50, 2] > out[25, 50, 0] > out[25, 50, 1]  # the text's channels keep their order
    assert np.array_equal(normalize(np.full((60, 200, 3), 77, np.uint8), "autocontrast"), np.zeros((60, 200, 3)))


def test_backend_resolution(monkeypatch) -> None:
    assert resolve_backend("auto") == "opencv"
    monkeypatch.setattr(preprocessing, "cv2", None)
    assert resolve_backend("auto") == "pil"
    with pytest.raises(SpecError, match="needs OpenCV"):
        resolve_backend("opencv")
    with pytest.raises(SpecError, match="Received: backend='fancy'"):
        resolve_backend("fancy")


def test_pil_fallback_runs_without_opencv(monkeypatch, captcha_rgb) -> None:
    monkeypatch.setattr(preprocessing, "cv2", None)
    out = prepare_uint8(np.asarray(Image.fromarray(captcha_rgb).resize((300, 90))), 60, 200, 3, resolve_backend("auto"))
    assert out.shape == (60, 200, 3)
