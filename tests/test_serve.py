"""`captcha serve`: a real uvicorn server on a free loopback port, driven over HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import invoke, invoke_json


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`captcha serve` in its own process; stopped with SIGTERM."""

    def __init__(self, model: Path, *options: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "captcha_cli", "serve", "--model", str(model), "--port", str(self.port)]
        self.process = subprocess.Popen([*command, *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.stdout.read().decode()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server did not answer /health within 90 s")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read(), response.headers.get("content-type", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("content-type", "")

    def get(self, path: str, headers: dict | None = None):
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, body: bytes, content_type: str, headers: dict | None = None):
        status, data, _ = self.request("POST", path, body, {"Content-Type": content_type, **(headers or {})})
        return status, json.loads(data)

    def stop(self) -> int:
        """SIGTERM; uvicorn shuts down gracefully, then re-raises the signal, so the exit status is -SIGTERM."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def onnx_model(trained_run, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("serve") / "onnx"
    invoke_json(CliRunner(), "export", trained_run[0], "--format", "onnx", "--out", out)
    return out


@pytest.fixture(scope="module")
def server(onnx_model):
    running = Server(onnx_model, "--max-bytes", "40000", "--max-pixels", "100000", "--batch-wait-ms", "20")
    yield running
    assert running.stop() == -signal.SIGTERM


@pytest.fixture(scope="module")
def images(digits_dir) -> list[Path]:
    return sorted(digits_dir.glob("*.png"))[:8]


@pytest.fixture(scope="module")
def cli_texts(onnx_model, images) -> list[str]:
    from typer.testing import CliRunner

    rows = invoke_json(CliRunner(), "predict", *images, "--model", onnx_model)
    return [row["text"] for row in rows]


def test_health_names_the_model(server, onnx_model) -> None:
    status, body, kind = server.get("/health")
    data = json.loads(body)
    assert status == 200 and kind == "application/json"
    assert data["status"] == "ok" and data["model"] == str(onnx_model / "model.onnx")
    assert data["charset"] == "0123456789" and data["calibrated"] is True


def test_every_way_of_sending_an_image_reads_what_predict_reads(server, images, cli_texts) -> None:
    data = images[0].read_bytes()
    raw = server.post_json("/predict", data, "image/png")
    octets = server.post_json("/predict", data, "application/octet-stream")
    multipart = server.post_json("/predict", *_multipart([("a.png", data)]))
    as_json = server.post_json(
        "/predict", json.dumps({"image": base64.b64encode(data).decode()}).encode(), "application/json"
    )
    for status, answer in (raw, octets, multipart, as_json):
        assert status == 200, answer
        assert answer["text"] == cli_texts[0]
        assert 0 <= answer["confidence"] <= 1 and answer["rejected"] is False
    status, answer = server.post_json("/predict?min_confidence=1", data, "image/png")
    assert status == 200 and answer["rejected"] is True


def test_constraints_and_arithmetic_in_the_query(server, images) -> None:
    status, answer = server.post_json("/predict?charset=0-2&length=2", images[1].read_bytes(), "image/png")
    assert status == 200 and len(answer["text"]) == 2 and set(answer["text"]) <= set("012")
    status, answer = server.post_json("/predict?answer=arithmetic&length=3", images[1].read_bytes(), "image/png")
    assert status == 200 and answer["answer"] == int(answer["text"])


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "error"),
    [
        ("/predict", b"not an image at all", "image/png", 400, "body: not an image"),
        ("/predict", b"", "image/png", 400, "body: empty file (0 bytes)"),
        ("/predict", b'{"image": "***"}', "application/json", 400, "image: not valid base64"),
        ("/predict", b"{oops", "application/json", 400, "body is not valid JSON"),
        ("/predict", b'{"picture": "x"}', "application/json", 400, 'JSON body must look like {"image": "<base64>"}'),
        ("/predict", b"hello", "text/plain", 415, "unsupported content type 'text/plain'"),
        ("/predict", bytes(50_000), "image/png", 413, "request body of 50,000 bytes is over the limit of 40,000"),
        (
            "/predict?min_confidence=2",
            b"x",
            "image/png",
            422,
            "min_confidence: Input should be less than or equal to 1",
        ),
        ("/predict?length=0", b"x", "image/png", 422, "--length takes N or N-M with 1 <= N <= M. Received: 0"),
        ("/predict?charset=x-z", b"x", "image/png", 422, "--charset 'xyz' shares no character"),
        ("/predict?answer=sum", b"x", "image/png", 422, "answer: Input should be 'text' or 'arithmetic'"),
    ],
)
def test_bad_requests_get_a_status_and_one_error(server, path, body, content_type, status, error) -> None:
    got, answer = server.post_json(path, body, content_type)
    assert got == status and list(answer) == ["error"] and answer["error"].startswith(error), answer


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(server) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buffer, format="PNG")  # 120,000 pixels, a small file
    status, answer = server.post_json("/predict", buffer.getvalue(), "image/png")
    assert status == 413 and "400x300 is over the limit of 100,000 pixels" in answer["error"]


def test_batch_answers_each_image_in_its_place(server, images, cli_texts) -> None:
    files = [(p.name, p.read_bytes()) for p in images[:3]] + [("junk.png", b"junk")]
    status, answer = server.post_json("/predict/batch", *_multipart(files))
    assert status == 200
    results = answer["results"]
    assert [r.get("text") for r in results[:3]] == cli_texts[:3]
    assert results[3] == {"error": "junk.png: not an image"}
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in images[:2]]
    status, answer = server.post_json("/predict/batch", json.dumps({"images": encoded}).encode(), "application/json")
    assert status == 200 and [r["text"] for r in answer["results"]] == cli_texts[:2]


def test_concurrent_clients_are_all_answered_and_share_model_calls(server, images, cli_texts) -> None:
    def batch_counts() -> tuple[float, float]:
        text = server.get("/metrics")[1].decode()
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("captcha_model_batch_size_"))
        return float(values["captcha_model_batch_size_count"]), float(values["captcha_model_batch_size_sum"])

    calls_before, images_before = batch_counts()
    clients, rounds = 32, 3
    barrier, answers, lock = threading.Barrier(clients), [], threading.Lock()

    def client(index: int) -> None:
        barrier.wait()
        for round_ in range(rounds):
            k = (index + round_) % len(images)
            status, answer = server.post_json("/predict", images[k].read_bytes(), "image/png")
            with lock:
                answers.append((k, status, answer["text"]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == clients * rounds
    assert all(status == 200 and text == cli_texts[k] for k, status, text in answers)
    calls, read = (after - before for after, before in zip(batch_counts(), (calls_before, images_before), strict=True))
    assert read == clients * rounds  # every image went through a model call once
    assert calls < read  # and some calls carried several


def test_metrics_are_prometheus_text(server) -> None:
    status, body, kind = server.get("/metrics")
    text = body.decode()
    assert status == 200 and kind.startswith("text/plain")
    assert 'captcha_requests_total{path="/predict",status="200"}' in text
    assert 'captcha_errors_total{path="/predict"}' in text
    assert 'captcha_request_seconds_bucket{le="0.05",path="/predict"}' in text


def test_openapi_docs(server) -> None:
    status, body, _ = server.get("/openapi.json")
    assert status == 200 and {"/predict", "/predict/batch", "/health", "/metrics"} <= set(json.loads(body)["paths"])
    assert server.get("/docs")[0] == 200


def test_api_key_and_sigterm_finishing_the_requests_in_flight(onnx_model, images) -> None:
    server = Server(onnx_model, "--api-key", "s3cret")
    body, kind = _multipart([(p.name, p.read_bytes()) for p in images])
    assert server.post_json("/predict/batch", body, kind)[0] == 401
    assert server.get("/health")[0] == 200  # health stays open
    # a request still arriving when SIGTERM comes: half its body first, the rest after the signal
    head = (
        f"POST /predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: s3cret\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        client.sendall(body[len(body) // 2 :])
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    assert len(json.loads(rest.split(b"\r\n\r\n", 1)[1])["results"]) == len(images)
    assert server.process.wait(timeout=10) == -signal.SIGTERM  # uvicorn re-raises the signal once done
    assert time.monotonic() - started < 10


def test_the_example_client_submits_or_asks_for_another(server, images, cli_texts) -> None:
    client = [sys.executable, str(Path(__file__).resolve().parents[1] / "examples" / "serve_client.py")]
    sure = subprocess.run(
        [*client, str(images[0]), "--url", server.url, "--min-confidence", "0"], capture_output=True, text=True
    )
    assert sure.returncode == 0 and sure.stdout.strip() == cli_texts[0]
    unsure = subprocess.run(
        [*client, str(images[0]), "--url", server.url, "--min-confidence", "1"], capture_output=True, text=True
    )
    assert unsure.returncode == 1 and "ask for a new captcha" in unsure.stderr
    refused = subprocess.run(
        [*client, str(images[0]), "--url", server.url, "--length", "0"], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "refused (422): --length takes N or N-M" in refused.stderr


def test_a_wider_address_needs_a_key(runner, onnx_model) -> None:
    result = invoke(runner, "serve", "--model", onnx_model, "--host", "0.0.0.0")
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without --api-key" in result.output


def test_serving_an_export_never_imports_tensorflow(onnx_model) -> None:
    code = (
        "import sys\n"
        "from captcha_cli.inference.service import ServeOptions, create_app\n"
        f"create_app(ServeOptions({str(onnx_model)!r}))\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
