"""`captcha serve`: an HTTP service that reads captchas (see captcha_cli.inference.service)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import ui
from captcha_cli.cli.common import ProjectOpt, handle_errors
from captcha_cli.errors import CaptchaError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@handle_errors
def serve(
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="A .keras file, a run folder, or an ONNX or TFLite export (no TensorFlow)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (a wider one needs --api-key).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes, each with its own model.")] = 1,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="CAPTCHA_API_KEY", help="Require this key in the X-API-Key header."),
    ] = None,
    max_bytes: Annotated[int, typer.Option("--max-bytes", min=1, help="Largest request body (413 above).")] = 2_000_000,
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, help="Largest image (413 above).")] = 4_000_000,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Most images in one model call.")] = 64,
    batch_wait_ms: Annotated[
        float, typer.Option("--batch-wait-ms", min=0.0, help="How long a model call waits for more images.")
    ] = 2.0,
    project: ProjectOpt = Path("runs"),
) -> None:
    """Serve a model over HTTP: POST /predict, POST /predict/batch, GET /health, GET /metrics, docs at /docs."""
    import uvicorn

    from captcha_cli.inference.readers import newest_best_model, open_reader
    from captcha_cli.inference.service import ENVIRONMENT, ServeOptions, create_app, options_environment

    if not _is_loopback(host) and not api_key:
        raise CaptchaError(
            f"refusing to listen on {host} without --api-key: anyone who can reach it could use the model",
            hint="pass --api-key KEY (or set CAPTCHA_API_KEY), or keep the default --host 127.0.0.1",
        )
    path = model or newest_best_model(project)
    reader = open_reader(path)  # a model that cannot be read stops here, before any worker starts
    options = ServeOptions(
        str(path),
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        api_key=api_key,
        threads=max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None,
    )
    ui.info(f"Serving {path} on http://{host}:{port} (docs at /docs); Ctrl+C or SIGTERM stops.")
    settings = dict(host=host, port=port, timeout_graceful_shutdown=8, log_level="warning")
    if workers > 1:  # each process opens the model itself, from the options in its environment
        os.environ[ENVIRONMENT] = options_environment(options)
        uvicorn.run("captcha_cli.inference.service:app_from_environment", factory=True, workers=workers, **settings)
    else:
        uvicorn.run(create_app(options, reader), **settings)
