"""`captcha serve` under load on loopback: requests/s and p50/p99 latency at several numbers of
concurrent clients, for a `.keras` model and its ONNX export, side by side in one run.

The load comes from ApacheBench (`ab`, Debian's apache2-utils: C, keep-alive, one thread), so the
client costs the server little CPU; each client sends one image per request as the raw body.
Every setting is bounded in requests and in seconds.

Usage: python benchmarks/serve_speed.py RUN IMAGE [--onnx EXPORT] [--clients 1,8,32]
       [--requests 2000] [--seconds 20] [--workers 1] [--ddddocr PYTHON]

Without --onnx the run's model is exported to a temporary folder with `captcha export`.
`--ddddocr PYTHON` (the interpreter of an environment with `pip install "ddddocr[api]"`) adds
ddddocr's own HTTP service (`python -m ddddocr api`, `POST /ocr` with JSON `{"image": base64}`,
its only body) on the same image, clients and workers.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import commit, cpu_name  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_ab(output: str) -> dict[str, float]:
    """Requests/s, failed requests and the 50th and 99th latency percentiles (ms) of `ab`'s report."""

    def number(pattern: str) -> float:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise ValueError(f"ab's report has no {pattern!r}")
        return float(match.group(1))

    return {
        "requests": number(r"^Complete requests:\s+(\d+)"),
        "failed": number(r"^Failed requests:\s+(\d+)"),
        "non_2xx": float(re.search(r"^Non-2xx responses:\s+(\d+)", output, re.MULTILINE).group(1))
        if "Non-2xx" in output
        else 0.0,
        "requests_per_s": number(r"^Requests per second:\s+([\d.]+)"),
        "p50_ms": number(r"^\s+50%\s+(\d+)"),
        "p99_ms": number(r"^\s+99%\s+(\d+)"),
    }


def captcha_serve(model: Path, port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "captcha_cli", "serve", "--model", str(model), "--port", str(port)]
    return [*command, "--workers", str(workers)]


def ddddocr_api(python: str, port: int, workers: int) -> list[str]:
    return [python, "-m", "ddddocr", "api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def start_server(command: list[str], port: int) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"{command[2]} exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{command[2]} did not answer /health in 120 s")


def load(url: str, body: Path, kind: str, clients: int, requests: int, seconds: int) -> dict[str, float]:
    command = ["ab", "-q", "-k", "-s", "30", "-t", str(seconds), "-n", str(requests), "-c", str(clients)]
    command += ["-p", str(body), "-T", kind, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_ab(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder or .keras file")
    parser.add_argument("image", type=Path, help="the image every request sends")
    parser.add_argument("--onnx", type=Path, help="an ONNX export of the same model")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ddddocr", help="python of an environment with ddddocr[api]")
    args = parser.parse_args()
    if shutil.which("ab") is None:
        raise SystemExit("needs ApacheBench: apt-get install apache2-utils")
    scratch = Path(tempfile.mkdtemp(prefix="serve-speed-"))
    onnx = args.onnx
    if onnx is None:
        onnx = scratch / "onnx"
        subprocess.run(
            [sys.executable, "-m", "captcha_cli", "export", str(args.run), "--format", "onnx", "--out", str(onnx)],
            check=True,
            capture_output=True,
        )
    as_json = scratch / "image.json"
    as_json.write_text(json.dumps({"image": base64.b64encode(args.image.read_bytes()).decode()}))
    targets = [  # name, server command for a port, path, body, content type
        ("keras", lambda port: captcha_serve(args.run, port, args.workers), "/predict", args.image, "image/png"),
        ("onnx", lambda port: captcha_serve(onnx, port, args.workers), "/predict", args.image, "image/png"),
    ]
    if args.ddddocr:
        server = functools.partial(ddddocr_api, args.ddddocr, workers=args.workers)
        targets.append(("ddddocr", server, "/ocr", as_json, "application/json"))
    rows = []
    for name, server_command, path, body, kind in targets:
        port = free_port()
        process, url = start_server(server_command(port), port)
        try:
            load(url + path, body, kind, 4, 100, 10)  # warm-up: first calls trace or allocate
            for clients in (int(c) for c in args.clients.split(",")):
                result = load(url + path, body, kind, clients, args.requests, args.seconds)
                rows.append({"model": name, "clients": clients, "workers": args.workers, **result})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=15)
    shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"\n{cpu_name()}, {date.today()}, commit {commit()}, `python benchmarks/serve_speed.py "
        f"{args.run} {args.image} --clients {args.clients} --requests {args.requests} --seconds {args.seconds} "
        f"--workers {args.workers}" + (f" --ddddocr {args.ddddocr}" if args.ddddocr else "") + "`\n"
    )
    print("| model | clients | requests/s | p50 ms | p99 ms | requests | failed or non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        bad = int(r["failed"] + r["non_2xx"])
        print(
            f"| {r['model']} | {r['clients']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {int(r['requests'])} | {bad} |"
        )


if __name__ == "__main__":
    main()
