"""`captcha serve` under load on loopback: requests/s and p50/p99 latency at several numbers of
concurrent clients, for a `.keras` model and its ONNX export, side by side in one run.

The load comes from ApacheBench (`ab`, Debian's apache2-utils: C, keep-alive, one thread), so the
client costs the server little CPU; each client sends one image per request as the raw body.
Every setting is bounded in requests and in seconds.

Usage: python benchmarks/serve_speed.py RUN IMAGE [--onnx EXPORT] [--clients 1,8,32]
       [--requests 2000] [--seconds 20] [--workers 1]

Without --onnx the run's model is exported to a temporary folder with `captcha export`.
"""

from __future__ import annotations

import argparse
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
from outside_sets import commit, cpu_name  # noqa: E402


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


def start_server(model: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "captcha_cli", "serve", "--model", str(model), "--port", str(port)]
    process = subprocess.Popen([*command, "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"captcha serve exited: {process.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit("captcha serve did not answer /health in 120 s")


def load(url: str, image: Path, clients: int, requests: int, seconds: int) -> dict[str, float]:
    command = ["ab", "-q", "-k", "-s", "30", "-t", str(seconds), "-n", str(requests), "-c", str(clients)]
    command += ["-p", str(image), "-T", "image/png", f"{url}/predict"]
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
    rows = []
    for name, model in (("keras", args.run), ("onnx", onnx)):
        process, url = start_server(model, args.workers)
        try:
            load(url, args.image, 4, 100, 10)  # warm-up: first calls trace or allocate
            for clients in (int(c) for c in args.clients.split(",")):
                result = load(url, args.image, clients, args.requests, args.seconds)
                rows.append({"model": name, "clients": clients, "workers": args.workers, **result})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=15)
    shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"\n{cpu_name()}, {date.today()}, commit {commit()}, `python benchmarks/serve_speed.py "
        f"{args.run} {args.image} --clients {args.clients} --requests {args.requests} --seconds {args.seconds} "
        f"--workers {args.workers}`\n"
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
