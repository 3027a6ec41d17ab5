"""`captcha generate`: write labelled synthetic captchas, so the tool works with no data at all."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from captcha_cli import ui
from captcha_cli.cli.common import JsonOpt, QuietOpt, handle_errors


@handle_errors
def generate(
    out: Annotated[Path, typer.Argument(help="Folder to write LABEL-<md5>.png files into.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many captchas.")] = 1000,
    style: Annotated[
        str,
        typer.Option(
            "--style",
            help="noisy (the original system's style), crowded (noisy at uneven, overlapping gaps), simple, "
            "or arithmetic (12+34=?, labels in labels.csv).",
        ),
    ] = "noisy",
    charset: Annotated[str, typer.Option("--charset", help="Characters, ranges allowed.")] = "0-9a-zA-Z",
    length: Annotated[str, typer.Option("--length", help="Label length: 4, 4,6 or 4-6.")] = "4,6",
    width: Annotated[int, typer.Option("--width", min=16, help="Image width.")] = 200,
    height: Annotated[int, typer.Option("--height", min=16, help="Image height.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 0,
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Write labelled synthetic captchas (LABEL-<md5>.png, like the original system). The
    arithmetic style ignores --charset and --length: it draws two numbers and + - x or /."""
    from captcha_cli.charset import parse_charset
    from captcha_cli.data.synthetic import generate_folder, parse_lengths

    chars, lengths = parse_charset(charset), parse_lengths(length)
    with ui.ProgressBar("Generating", count, enabled=not (quiet or json_output)) as bar:
        result = generate_folder(out, count, style, chars, lengths, width, height, seed, bar.advance)
    if json_output:
        ui.print_json(result)
    elif not quiet:
        ui.info(f"Wrote {result['written']:,} {style} captchas to {out} ({result['existing']:,} already there).")
