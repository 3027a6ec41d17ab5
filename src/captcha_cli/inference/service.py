"""`captcha serve`: the model behind HTTP, on FastAPI (OpenAPI docs at /docs, request validation)
and uvicorn (graceful SIGTERM, worker processes).

Concurrent requests share model calls: each request's image waits in a queue, and one task takes
everything queued (up to `max_batch`) into one call, so throughput grows with load. While the
previous call carried more than one image (there is load), a call also waits up to
`batch_wait_ms` for more; a lone client never waits. The model runs, and its batch is decoded,
in one thread beside the event loop. Neither FastAPI nor uvicorn batches requests, so this is
written here; measured with `benchmarks/serve_speed.py` (benchmarks/RESULTS.md, "Serving": 516
requests/s at p99 38 ms with an ONNX export on 2 cores). With an ONNX or TFLite export nothing
here imports TensorFlow.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.formparsers import MultiPartException, MultiPartParser

from captcha_cli import __version__
from captcha_cli.data.arithmetic import ExpressionError, solve
from captcha_cli.errors import CaptchaError, ImageError, ImageTooLargeError
from captcha_cli.inference.readers import ImageReader, open_reader
from captcha_cli.model.decoding import Constraint, decode_logits

ENVIRONMENT = "CAPTCHA_SERVE_OPTIONS"  # how `--workers` processes receive the options
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class ServeOptions:
    """What `captcha serve` was asked for, beyond host and port."""

    model: str
    max_bytes: int = 2_000_000  # request body
    max_pixels: int = 4_000_000  # one image, read from its header before decoding
    max_images: int = 64  # images in one /predict/batch request
    max_batch: int = 64  # images in one model call
    batch_wait_ms: float = 2.0
    api_key: str | None = None
    threads: int | None = None  # an export runtime's threads per process (cores / workers)


class HTTPProblem(Exception):
    """An answer other than 200: its status and the one-line error."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


class MicroBatcher:
    """Gathers concurrent images into model calls run in one thread; each caller gets its reading
    (text and confidence). The batch is decoded in the same thread, one vectorized decode per
    constraint asked for, so the event loop only parses requests and writes answers."""

    def __init__(self, reader: ImageReader, max_batch: int, wait_s: float, observe_batch) -> None:
        self.reader, self.max_batch, self.wait_s = reader, max_batch, wait_s
        self.observe_batch = observe_batch
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="captcha-model")
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.last_batch = 1

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=True)

    async def read(self, images: np.ndarray, constraint: Constraint) -> list[tuple[str, float]]:
        """The text and confidence of each model input, read in shared batches."""
        loop = asyncio.get_running_loop()
        futures = []
        for image in images:
            future = loop.create_future()
            self.queue.put_nowait((image, constraint, future))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    def _read_batch(self, images: np.ndarray, constraints: list[Constraint]) -> list[tuple[str, float]]:
        logits = self.reader.logits(images)
        spec, readings = self.reader.spec, [("", 0.0)] * len(images)
        for constraint in set(constraints):
            rows = [i for i, c in enumerate(constraints) if c == constraint]
            ids, _, confidence = decode_logits(logits[rows], spec, constraint)
            for row, text_ids, value in zip(rows, ids, confidence, strict=True):
                text = spec.codec.decode(text_ids)
                readings[row] = (text.lower() if constraint.ignore_case else text, float(value))
        return readings

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + (self.wait_s if self.last_batch > 1 else 0.0)
            while len(batch) < self.max_batch:
                if not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                    continue
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            images = np.stack([image for image, _, _ in batch])
            self.last_batch = len(batch)
            self.observe_batch(len(batch))
            try:
                readings = await loop.run_in_executor(self.executor, self._read_batch, images, [c for _, c, _ in batch])
            except Exception as exc:  # the model failed: every waiting request hears why
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), reading in zip(batch, readings, strict=True):
                if not future.done():
                    future.set_result(reading)


class Metrics:
    """Prometheus counters and histograms of one process (each `--workers` process has its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "captcha_requests", "HTTP requests answered", ["path", "status"], registry=self.registry
        )
        self.errors = Counter("captcha_errors", "Requests answered with a 4xx or 5xx", ["path"], registry=self.registry)
        self.latency = Histogram(
            "captcha_request_seconds",
            "Time from request to answer",
            ["path"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=self.registry,
        )
        self.images = Counter("captcha_images", "Images read", registry=self.registry)
        self.batch = Histogram(
            "captcha_model_batch_size",
            "Images per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        if status >= 400:
            self.errors.labels(path).inc()
        self.latency.labels(path).observe(seconds)


class MeasuredApp:
    """ASGI wrapper that counts every HTTP answer and its latency (a pure ASGI layer: cheaper than
    Starlette's BaseHTTPMiddleware per request)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.metrics.observe(path, status, time.perf_counter() - started)


KNOWN_PATHS = ("/health", "/predict", "/predict/batch", "/metrics", "/docs", "/openapi.json")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is over `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"request body of {int(declared):,} bytes is over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"request body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def request_images(request: Request, limit: int, many: bool) -> list[tuple[str, bytes]]:
    """The encoded images of a request, named for error messages: a raw body (`image/*` or
    `application/octet-stream`), multipart field(s) `file`, or JSON `{"image": base64}` (or
    `{"images": [...]}`)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limit)
    if kind.startswith("image/") or kind == "application/octet-stream":
        return [("body", body)]
    if kind == "multipart/form-data":
        return await _multipart_files(request, body)
    if kind == "application/json":
        return _json_images(body, many)
    raise HTTPProblem(
        415, f"unsupported content type {kind or '(none)'!r}: send image/*, multipart/form-data or application/json"
    )


async def _multipart_files(request: Request, body: bytes) -> list[tuple[str, bytes]]:
    async def stream():
        yield body

    try:
        form = await MultiPartParser(request.headers, stream()).parse()
    except MultiPartException as exc:
        raise HTTPProblem(400, f"malformed multipart body ({exc.message})") from None
    files = [item for item in form.getlist("file") if hasattr(item, "read")]
    if not files:
        raise HTTPProblem(400, "multipart body has no file field named 'file'")
    return [(item.filename or f"file {i + 1}", await item.read()) for i, item in enumerate(files)]


def _json_images(body: bytes, many: bool) -> list[tuple[str, bytes]]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, f"body is not valid JSON ({exc})") from None
    key = "images" if many else "image"
    values = data.get(key) if isinstance(data, dict) else None
    if many and isinstance(values, list) and all(isinstance(v, str) for v in values):
        encoded = values
    elif not many and isinstance(values, str):
        encoded = [values]
    else:
        shape = '{"images": ["<base64>", ...]}' if many else '{"image": "<base64>"}'
        raise HTTPProblem(400, f"JSON body must look like {shape}")
    images = []
    for index, text in enumerate(encoded):
        try:
            images.append((f"{key}[{index}]" if many else key, base64.b64decode(text, validate=True)))
        except (binascii.Error, ValueError):
            raise HTTPProblem(400, f"{key}[{index}]: not valid base64" if many else "image: not valid base64") from None
    return images


def answer(reading: tuple[str, float], min_confidence: float, mode: str) -> dict[str, Any]:
    """The JSON answer for one image's reading."""
    text, confidence = reading
    result: dict[str, Any] = {"text": text, "confidence": confidence, "rejected": confidence < min_confidence}
    if mode == "arithmetic":
        try:
            result["answer"] = solve(text)
        except ExpressionError as exc:
            result["answer"], result["answer_error"] = None, exc.message
    return result


def create_app(options: ServeOptions, reader: ImageReader | None = None) -> MeasuredApp:
    """The ASGI service for `options.model` (or for a reader already open)."""
    reader = reader or open_reader(Path(options.model), options.threads)
    metrics = Metrics()
    batcher = MicroBatcher(reader, options.max_batch, options.batch_wait_ms / 1000, metrics.batch.observe)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="captcha-cli",
        version=__version__,
        description="Read captcha images with a model trained by `captcha train`.",
        lifespan=lifespan,
    )

    @app.exception_handler(HTTPProblem)
    async def problem(_: Request, exc: HTTPProblem) -> JSONResponse:
        return JSONResponse({"error": exc.error}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    async def require_key(request: Request) -> None:
        """With --api-key, every path but /health and the docs needs the key in its header."""
        given = request.headers.get(API_KEY_HEADER, "")
        if options.api_key and not hmac.compare_digest(given.encode(), options.api_key.encode()):
            raise HTTPProblem(401, f"missing or wrong {API_KEY_HEADER} header")

    guarded = [Depends(require_key)]

    def constraint_of(charset: str | None, length: str | None, ignore_case: bool) -> Constraint:
        try:
            constraint = Constraint.parse(charset, length, ignore_case)
            constraint.allowed_classes(reader.spec)
        except CaptchaError as exc:
            raise HTTPProblem(422, exc.message) from None
        return constraint

    def model_inputs(images: list[tuple[str, bytes]]) -> list[np.ndarray | HTTPProblem]:
        inputs: list[np.ndarray | HTTPProblem] = []
        for name, data in images:
            try:
                inputs.append(reader.load_bytes(data, name, options.max_pixels))
            except ImageTooLargeError as exc:
                inputs.append(HTTPProblem(413, exc.message))
            except ImageError as exc:
                inputs.append(HTTPProblem(400, exc.message))
        return inputs

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """The service is up; which model it serves."""
        spec = reader.spec
        return {
            "status": "ok",
            "model": str(reader.path),
            "charset": spec.charset,
            "max_length": spec.max_length,
            "input": f"{spec.width}x{spec.height}",
            "calibrated": bool(spec.calibration),
            "version": __version__,
        }

    @app.post("/predict", dependencies=guarded)
    async def predict(
        request: Request,
        min_confidence: float = Query(0.0, ge=0.0, le=1.0, description="Mark answers below this as rejected."),
        charset: str | None = Query(None, description="Answer only with these characters (e.g. 0-9)."),
        length: str | None = Query(None, description="Answer only with N or N-M characters."),
        ignore_case: bool = Query(False, description="Upper and lower case read as one."),
        answer_mode: Literal["text", "arithmetic"] = Query("text", alias="answer"),
    ) -> dict[str, Any]:
        """Read one image, sent as the raw body, a multipart field `file`, or JSON {"image": base64}."""
        constraint = constraint_of(charset, length, ignore_case)
        images = await request_images(request, options.max_bytes, many=False)
        (model_input,) = model_inputs(images[:1])
        if isinstance(model_input, HTTPProblem):
            raise model_input
        (reading,) = await batcher.read(model_input[None], constraint)
        metrics.images.inc()
        return answer(reading, min_confidence, answer_mode)

    @app.post("/predict/batch", dependencies=guarded)
    async def predict_batch(
        request: Request,
        min_confidence: float = Query(0.0, ge=0.0, le=1.0),
        charset: str | None = Query(None),
        length: str | None = Query(None),
        ignore_case: bool = Query(False),
        answer_mode: Literal["text", "arithmetic"] = Query("text", alias="answer"),
    ) -> dict[str, Any]:
        """Read several images: multipart fields `file`, or JSON {"images": [base64, ...]}. An image
        that cannot be read gets {"error": ...} in its place."""
        constraint = constraint_of(charset, length, ignore_case)
        images = await request_images(request, options.max_bytes, many=True)
        if len(images) > options.max_images:
            raise HTTPProblem(413, f"{len(images)} images is over the limit of {options.max_images} per request")
        inputs = model_inputs(images)
        good = [x for x in inputs if not isinstance(x, HTTPProblem)]
        readings = iter(await batcher.read(np.stack(good), constraint) if good else [])
        metrics.images.inc(len(good))
        results = [
            {"error": x.error} if isinstance(x, HTTPProblem) else answer(next(readings), min_confidence, answer_mode)
            for x in inputs
        ]
        return {"results": results}

    @app.get("/metrics", dependencies=guarded)
    async def prometheus() -> Response:
        """Prometheus text: requests by path and status, errors, latency, images, model batch sizes."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return MeasuredApp(app, metrics)


def app_from_environment() -> MeasuredApp:
    """The uvicorn factory for `--workers N`: each process opens the model named in $CAPTCHA_SERVE_OPTIONS."""
    return create_app(ServeOptions(**json.loads(os.environ[ENVIRONMENT])))


def options_environment(options: ServeOptions) -> str:
    return json.dumps(asdict(options))
