"""Shared option aliases and the error handler every command uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from captcha_cli import runtime, ui
from captcha_cli.errors import CaptchaError
from captcha_cli.spec import PREPROCESSING_BACKENDS

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="A .keras model file or a run folder (uses its best.keras)."),
]
ArchOpt = Annotated[
    str, typer.Option("--arch", help="Architecture preset: resnet34 (the report's), resnet18 or small.")
]
CharsetOpt = Annotated[str | None, typer.Option("--charset", help="Characters, ranges allowed (e.g. 0-9a-zA-Z).")]
MaxLengthOpt = Annotated[int | None, typer.Option("--max-length", help="Longest label (positions).")]
HeightOpt = Annotated[int | None, typer.Option("--height", help="Input image height in pixels.")]
WidthOpt = Annotated[int | None, typer.Option("--width", help="Input image width in pixels.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


GIVEN_ARGS = "captcha.given_args"


def command_line(ctx: typer.Context) -> list[str]:
    """The command as the user typed it (`captcha train DATA --time 10m`), from the arguments Click
    parsed (not sys.argv, which is another program's when the CLI runs inside one)."""
    return ["captcha", ctx.info_name or "", *ctx.meta.get(GIVEN_ARGS, [])]


class EchoingCommand(TyperCommand):
    """A command whose invalid-value errors repeat the value given: `... equal to 1. Received: 0`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)
        ctx.meta[GIVEN_ARGS] = given
        try:
            return super().parse_args(ctx, args)
        except typer.BadParameter as exc:
            value = _value_given(getattr(exc.param, "opts", ()), given)
            if value is not None and "Received:" not in exc.message:
                exc.message = f"{exc.message.rstrip('.')}. Received: {value}"
            raise


def _value_given(opts: Any, args: list[str]) -> str | None:
    """The last value given on the command line to an option known by any of `opts`."""
    value = None
    for index, arg in enumerate(args):
        for opt in opts:
            if arg == opt and index + 1 < len(args):
                value = args[index + 1]
            elif arg.startswith(f"{opt}=") and opt.startswith("--"):
                value = arg[len(opt) + 1 :]
    return value


def handle_errors(command: F) -> F:
    """Turn CaptchaError into `Error: ...` on stderr with exit code 1; tracebacks only with --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CaptchaError as exc:
            if runtime.is_debug():
                raise
            if exc.rows:
                ui.render_problems(exc.rows)
            ui.error(exc.message, exc.hint)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit, typer.BadParameter):
            raise  # usage errors (BadParameter) keep click's usage message and exit code 2
        except Exception as exc:  # the last line of defence: no tracebacks without --debug
            if runtime.is_debug():
                raise
            ui.error(f"unexpected {type(exc).__name__}: {exc}", "run again with --debug for the traceback")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_model_reader(model: Path | None, project: Path, quiet: bool):
    """The reader for `--model`, or for the newest best.keras under `project` (said on stderr)."""
    from captcha_cli.inference.readers import newest_best_model, open_reader

    reader = open_reader(model or newest_best_model(project))
    if model is None and not quiet:
        ui.info(f"Using model {reader.path}")
    return reader


def spec_overrides(
    charset: str | None = None,
    max_length: int | None = None,
    height: int | None = None,
    width: int | None = None,
) -> dict[str, Any]:
    """Spec fields given on the command line (charset ranges expanded)."""
    from captcha_cli.charset import parse_charset

    overrides: dict[str, Any] = {}
    if charset is not None:
        overrides["charset"] = parse_charset(charset)
    for name, value in (("max_length", max_length), ("height", height), ("width", width)):
        if value is not None:
            overrides[name] = value
    return overrides


LabelPatternOpt = Annotated[
    str | None,
    typer.Option("--label-pattern", help="Regex with a named group (?P<label>...) searched in file names."),
]
IgnoreCaseOpt = Annotated[bool, typer.Option("--ignore-case", help="Fold labels to one case.")]
AnswerCharsetOpt = Annotated[
    str | None,
    typer.Option("--charset", help="Answer only with these characters (ranges allowed, e.g. 0-9), searched for."),
]
AnswerLengthOpt = Annotated[
    str | None, typer.Option("--length", help="Answer only with N or N-M characters (e.g. 4 or 4-6).")
]
AnswerIgnoreCaseOpt = Annotated[
    bool,
    typer.Option("--ignore-case", help="Case does not count: upper and lower case read as one, answers in lower case."),
]
SkipInvalidOpt = Annotated[
    bool,
    typer.Option("--skip-invalid", help="Leave out invalid files (and say how many) instead of stopping."),
]
BACKEND_HELP = (
    f"Normalization: auto (OpenCV, else PIL), {', '.join(PREPROCESSING_BACKENDS[:-1])} or {PREPROCESSING_BACKENDS[-1]}."
)
BackendOpt = Annotated[str, typer.Option("--backend", help=BACKEND_HELP)]
ProjectOpt = Annotated[
    Path, typer.Option("--project", help="Folder of run folders (the default model: newest best.keras).")
]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per batch.")]
