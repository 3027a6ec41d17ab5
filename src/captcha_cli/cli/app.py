"""The root of the CLI: builds the Typer app and registers one module per command."""

from __future__ import annotations

from typing import Annotated

import typer

from captcha_cli import __version__, runtime
from captcha_cli.cli import (
    calibrate,
    evaluate,
    export,
    generate,
    predict,
    preprocess,
    screen,
    serve,
    summary,
    train,
    verify,
)
from captcha_cli.cli.common import EchoingCommand

app = typer.Typer(
    name="captcha",
    help="Train, check and run captcha text recognizers (ResNet-34 + BiLSTM).",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"captcha-cli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and TensorFlow's own log messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Train, check and run captcha text recognizers (ResNet-34 + BiLSTM)."""
    runtime.set_debug(debug)


app.command("calibrate", cls=EchoingCommand)(calibrate.calibrate)
app.command("evaluate", cls=EchoingCommand)(evaluate.evaluate)
app.command("export", cls=EchoingCommand)(export.export)
app.command("generate", cls=EchoingCommand)(generate.generate)
app.command("predict", cls=EchoingCommand)(predict.predict)
app.command("preprocess", cls=EchoingCommand)(preprocess.preprocess)
app.command("screen", cls=EchoingCommand)(screen.screen)
app.command("serve", cls=EchoingCommand)(serve.serve)
app.command("summary", cls=EchoingCommand)(summary.summary)
app.command("train", cls=EchoingCommand)(train.train)
app.command("verify", cls=EchoingCommand)(verify.verify)


def main() -> None:
    app()
