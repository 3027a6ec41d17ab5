"""Inference speed side by side: `captcha predict` against ddddocr, in one run on the same images.

Measures (1) the cold start of reading one image as a fresh process (median of N runs) and
(2) steady throughput over a folder, plus each reader's full-string accuracy on the images
(ddddocr is pretrained on other captchas: its accuracy is context, not a contest).

Our reader is timed three ways: the `.keras` model (TensorFlow), a TFLite export (LiteRT) and an
ONNX export (ONNX Runtime).

Usage: python benchmarks/predict_speed.py --model runs/exp [--images 1000] [--runs 5]
Needs `pip install ddddocr` (a benchmark-only dependency) and the `onnx` extra.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from captcha_cli.data.synthetic import generate_folder

EXPORTS = ("tflite", "onnx")  # `captcha export` formats timed beside the .keras model
DDDDOCR_ONE = (
    "import sys, ddddocr; o = ddddocr.DdddOcr(show_ad=False); print(o.classification(open(sys.argv[1], 'rb').read()))"
)


def cold_start(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours_throughput(model: Path, paths: list[Path]) -> tuple[float, float]:
    from captcha_cli.inference.readers import open_reader

    reader = open_reader(model)
    reader.read_files(paths[:64])  # warm-up: graph tracing
    start = time.perf_counter()
    predictions = reader.read_files(paths)
    rate = len(paths) / (time.perf_counter() - start)
    correct = sum(p.text == Path(p.path).name.split("-")[0] for p in predictions)
    return rate, correct / len(paths)


def ddddocr_throughput(paths: list[Path]) -> tuple[float, float]:
    import ddddocr

    ocr = ddddocr.DdddOcr(show_ad=False)
    ocr.classification(paths[0].read_bytes())
    start = time.perf_counter()
    texts = [ocr.classification(p.read_bytes()) for p in paths]
    rate = len(paths) / (time.perf_counter() - start)
    correct = sum(t == p.name.split("-")[0] for t, p in zip(texts, paths, strict=True))
    return rate, correct / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--style", default="noisy")
    parser.add_argument("--charset", default="0-9a-zA-Z")
    parser.add_argument("--length", default="4,6")
    args = parser.parse_args()
    from captcha_cli.charset import parse_charset
    from captcha_cli.data.synthetic import parse_lengths

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        generate_folder(
            folder,
            args.images,
            args.style,
            parse_charset(args.charset),
            parse_lengths(args.length),
            200,
            60,
            seed=12345,
        )
        paths = sorted(folder.glob("*.png"))
        one = str(paths[0])
        models = {"keras": args.model}
        for fmt in EXPORTS:
            models[fmt] = Path(tmp) / fmt
            export = [sys.executable, "-m", "captcha_cli", "export", str(args.model), "--format", fmt, "--out"]
            subprocess.run([*export, str(models[fmt])], check=True, capture_output=True)
        captcha = [sys.executable, "-m", "captcha_cli", "predict", one, "--model"]
        rows = {}
        for kind, model in models.items():
            rows[f"captcha predict {kind} cold start (s)"] = cold_start([*captcha, str(model)], args.runs)
        rows["ddddocr cold start (s)"] = cold_start([sys.executable, "-c", DDDDOCR_ONE, one], args.runs)
        for kind, model in models.items():
            rate, accuracy = ours_throughput(model, paths)
            rows[f"captcha predict {kind} images/s"], rows[f"captcha predict {kind} accuracy"] = rate, accuracy
        rows["ddddocr images/s"], rows["ddddocr accuracy"] = ddddocr_throughput(paths)
    for name, value in rows.items():
        print(f"{name:42s} {value:10.3f}")
    rate, start = rows["ddddocr images/s"], rows["ddddocr cold start (s)"]
    throughput = ", ".join(f"{kind} {rows[f'captcha predict {kind} images/s'] / rate:.2f}x" for kind in models)
    starts = ", ".join(f"{kind} {rows[f'captcha predict {kind} cold start (s)'] / start:.2f}x" for kind in models)
    print(f"vs ddddocr: throughput {throughput}; cold start {starts}")
    print(json.dumps({"images": args.images, **rows}))


if __name__ == "__main__":
    main()
