"""The only module that imports rich: consoles, tables, panels and progress."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from captcha_cli.charset import compact_charset
from captcha_cli.reporting import (
    AnnealStarted,
    Event,
    LearningRateLowered,
    LearningRateWatch,
    RunEnded,
    RunStarted,
    ValidationDone,
)

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def error(message: str, hint: str = "") -> None:
    """One line on stderr: `Error: message`, then an optional hint line."""
    stderr.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, markup=True)
    if hint:
        stderr.print(f"[dim]Hint: {escape(hint)}[/]", highlight=False)


def info(message: str) -> None:
    stderr.print(message, highlight=False, markup=False)


def print_json(data: Any) -> None:
    """Exactly one JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_text(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _fmt_int(value: int) -> str:
    return f"{value:,}"


def _fmt_shape(shape: Sequence[Any]) -> str:
    return "(" + ", ".join("None" if v is None else str(v) for v in shape) + ")"


def key_value_grid(rows: Sequence[tuple[str, str]]) -> Table:
    """Two columns, bold labels: the headline numbers of a report."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def render_model_summary(report: dict[str, Any], console: Console | None = None) -> None:
    """The parameter-count report: one row per part, then totals and shapes."""
    console = console or stdout
    table = Table(title=f"Model {report['name']} ({report['arch']})", title_justify="left")
    for column, justify in (
        ("part", "left"),
        ("output shape", "left"),
        ("layers", "right"),
        ("parameters", "right"),
        ("MACs / image", "right"),
    ):
        table.add_column(column, justify=justify)
    for part in report["parts"]:
        table.add_row(
            part["name"],
            _fmt_shape(part["output_shape"]),
            str(part["layers"]),
            _fmt_int(part["params"]),
            _fmt_int(part["macs"]),
        )
    console.print(table)
    rows = [
        ("total parameters", _fmt_int(report["total_params"])),
        ("trainable", _fmt_int(report["trainable_params"])),
        ("non-trainable", _fmt_int(report["non_trainable_params"])),
        ("size (float32)", f"{report['size_mb']:.2f} MB"),
        ("input shape", _fmt_shape(report["input_shape"])),
        ("output shape", _fmt_shape(report["output_shape"])),
        ("MACs per image", f"{_fmt_int(report['macs_per_image'])} ({report['macs_per_image'] / 1e9:.2f} G)"),
        ("charset", f"{report['charset']} ({report['num_classes']} classes with padding)"),
        ("max length", str(report["max_length"])),
        ("preprocessing", report["preprocessing"]),
    ]
    console.print(key_value_grid(rows))


def render_checks(checks: Iterable[Any], console: Console | None = None) -> None:
    """The verify table: claim, what was found, pass or fail; then `N passed, M failed`."""
    console = console or stdout
    checks = list(checks)
    table = Table(show_lines=False)
    table.add_column("", width=4)
    table.add_column("check", style="bold")
    table.add_column("claim")
    table.add_column("found")
    for check in checks:
        mark = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
        table.add_row(mark, check.name, check.claim, check.found)
    console.print(table)
    passed = sum(c.passed for c in checks)
    console.print(f"{passed} passed, {len(checks) - passed} failed", highlight=False)


def render_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], console: Console | None = None
) -> None:
    """A plain table of rows (already formatted values)."""
    console = console or stdout
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row))
    console.print(table)


def render_panel(title: str, lines: Sequence[str], console: Console | None = None, style: str = "cyan") -> None:
    console = console or stderr
    console.print(
        Panel("\n".join(lines), title=title, title_align="left", border_style=style, expand=False),
        highlight=False,
    )


class ProgressBar:
    """A rich progress bar on a terminal; periodic plain lines in a log; silent when disabled."""

    def __init__(
        self,
        description: str,
        total: int | None,
        enabled: bool = True,
        console: Console | None = None,
        log_every_s: float = 10.0,
    ) -> None:
        self.console = console or stderr
        self.description = description
        self.total = total
        self.enabled = enabled
        self.interactive = enabled and self.console.is_terminal
        self.log_every_s = log_every_s
        self.completed = 0
        self._start = time.monotonic()
        self._last_log = self._start
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> ProgressBar:
        if self.interactive:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, rate="", status="")
        return self

    def advance(self, amount: int = 1, status: str = "") -> None:
        self.completed += amount
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = f"{self.completed / elapsed:.1f}/s"
        if self._progress is not None:
            self._progress.update(self._task, advance=amount, rate=rate, status=status)
        elif self.enabled and self.completed > amount and time.monotonic() - self._last_log >= self.log_every_s:
            self._last_log = time.monotonic()
            total = f"/{self.total}" if self.total else ""
            self.console.print(f"{self.description}: {self.completed}{total} ({rate}) {status}", highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self.enabled and self.completed:
            elapsed = max(time.monotonic() - self._start, 1e-9)
            self.console.print(
                f"{self.description}: {self.completed} done in {elapsed:.1f}s ({self.completed / elapsed:.1f}/s)",
                highlight=False,
            )


@contextmanager
def status(message: str, enabled: bool = True):
    """A spinner on a terminal while something slow (like importing TensorFlow) happens."""
    if enabled and stderr.is_terminal:
        with stderr.status(message):
            yield
    else:
        yield


def render_problems(rows: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    """The dataset problems table: problem, count, first examples, what to do."""
    console = console or stderr
    table = Table(title="Problems found", title_justify="left")
    for column in ("problem", "count", "first examples", "what to do"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["problem"], str(row["count"]), escape("\n".join(row["examples"])), escape(row["advice"]))
    console.print(table)


def render_audit(stats: dict[str, Any], console: Console | None = None) -> None:
    """The dataset audit: counts, label source, charset, lengths, sizes, problems."""
    console = console or stdout
    rows = [
        ("folder", stats["root"]),
        ("images found", _fmt_int(stats["images"])),
        ("labelled and usable", _fmt_int(stats["labelled"])),
        ("label source", stats["label_source"]),
        ("charset", f"{compact_charset(stats['charset'])} ({len(stats['charset'])} characters)"),
        ("label lengths", ", ".join(f"{k}: {v:,}" for k, v in stats["lengths"].items()) or "-"),
        ("image sizes", ", ".join(f"{k}: {v:,}" for k, v in stats["image_sizes"].items()) or "-"),
        ("duplicate images", _fmt_int(stats["duplicates"])),
        ("character counts", "  ".join(f"{c}:{n}" for c, n in stats["char_counts"].items()) or "-"),
    ]
    if "model_input" in stats:
        chosen = stats["model_input"]
        steps = f", {chosen['time_steps']} CTC time steps" if chosen["time_steps"] else ""
        rows.append(
            (
                f"train --arch {chosen['arch']}",
                f"input {chosen['width']}x{chosen['height']}{steps} for labels up to {chosen['max_length']}",
            )
        )
    console.print(key_value_grid(rows))
    if stats["problems"]:
        render_problems(stats["problems"], console)
    else:
        console.print("No problems found.")


class ConsoleReporter:
    """The rich Reporter: progress bars on stderr, notes, and renderings of workflow events (each
    kind of event that has a renderer; the others are not shown)."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or stderr
        self.renderers: dict[type, Callable[[Any, Console], None]] = {}

    def progress(self, description: str, total: int | None) -> ProgressBar:
        return ProgressBar(description, total, enabled=self.enabled, console=self.console)

    def info(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, highlight=False, markup=False)

    def event(self, event: Event) -> None:
        renderer = self.renderers.get(type(event))
        if self.enabled and renderer is not None:
            renderer(event, self.console)


# The training panel's lines for options that are off (0) unless given or set by a preset.
_OPTIONAL_TRAINING_LINES = (
    ("weight_decay", "weight decay   {:g} (kernels, decoupled)"),
    ("ema", "weight average {:g} decay per step (validated and saved)"),
    ("confidence_penalty", "penalty        {:g} x output entropy subtracted from the loss"),
)


def _render_run_start(run: RunStarted, console: Console) -> None:
    lines = [
        f"run folder     {run.run_dir}" + ("  (resumed)" if run.resumed else ""),
        f"data           {run.data}: {run.train:,} train / {run.val:,} validation images"
        + (f" + {run.unlabelled:,} unlabelled" if run.unlabelled else ""),
        f"charset        {compact_charset(run.charset)} ({len(run.charset)} + padding), max length {run.max_length}",
        f"model          {run.arch}, loss {run.loss}, preprocessing {run.preprocessing}",
        f"input          {run.input}",
        *([f"starts from    {run.init}"] if run.init else []),
        f"precision      {run.precision}, batch size {run.batch_size}",
        f"batches        {run.batch_makeup}",
    ]
    lines += [line.format(getattr(run, key)) for key, line in _OPTIONAL_TRAINING_LINES if getattr(run, key)]
    render_panel("Training", lines, console)


def _render_lr_start(watch: LearningRateWatch, console: Console) -> None:
    factor = f"{watch.factor} (halve)" if watch.factor == 0.5 else f"{watch.factor}"
    lines = [
        f"initial learning rate  {watch.lr:.6f}",
        f"monitor                {watch.monitor} ({watch.mode})",
        f"factor                 {factor}",
        f"patience               {watch.patience} validation rounds",
        f"minimum learning rate  {watch.min_lr:g}",
    ]
    render_panel("Adaptive learning rate", lines, console)


def _render_lr_reduced(lowered: LearningRateLowered, console: Console) -> None:
    lines = [f"{lowered.old:.6f} -> {lowered.new:.6f} (-{lowered.percent:.1f}%)", f"reason: {lowered.reason}"]
    render_panel(f"Learning rate lowered (validation round {lowered.round})", lines, console, style="yellow")


def _render_lr_anneal(anneal: AnnealStarted, console: Console) -> None:
    lines = [
        f"{anneal.start:.6f} -> {anneal.end:.6f} along a half cosine, from step {anneal.step:,}",
        f"reason: the last {anneal.fraction:.0%} of the budget (--anneal {anneal.fraction:g})",
    ]
    render_panel("Learning rate annealing", lines, console, style="yellow")


VALIDATION_HEADER = (
    f"{'step':>9}  {'loss':>8}  {'val loss':>8}  {'full str':>8}  {'per char':>8}  {'lr':>9}  {'img/s':>7}  {'best':>7}"
)


class ValidationTable:
    """Each validation round as one row, under a header printed once."""

    def __init__(self) -> None:
        self.header_shown = False

    def __call__(self, row: ValidationDone, console: Console) -> None:
        pseudo = row.pseudo_labelled is not None
        if not self.header_shown:
            console.print(VALIDATION_HEADER + (f"  {'pseudo':>7}" if pseudo else ""), style="bold", highlight=False)
            self.header_shown = True
        star = " *" if row.improved else ""
        console.print(
            f"{row.step:>9,}  {row.loss:>8.4f}  {row.val_loss:>8.4f}  "
            f"{row.full_string_acc:>8.2%}  {row.char_acc:>8.2%}  {row.lr:>9.2e}  "
            f"{row.images_per_s:>7.1f}  {row.best:>7.2%}" + (f"  {row.pseudo_labelled:>7.1%}" if pseudo else "") + star,
            highlight=False,
        )


def _render_run_end(end: RunEnded, console: Console) -> None:
    console.print(
        f"Stopped at step {end.step:,}: {end.reason}. Best full-string accuracy "
        f"{max(end.best, 0):.2%}. Models in {end.run_dir}",
        highlight=False,
    )


def training_reporter(enabled: bool) -> ConsoleReporter:
    reporter = ConsoleReporter(enabled)
    reporter.renderers.update(
        {
            RunStarted: _render_run_start,
            LearningRateWatch: _render_lr_start,
            LearningRateLowered: _render_lr_reduced,
            AnnealStarted: _render_lr_anneal,
            ValidationDone: ValidationTable(),
            RunEnded: _render_run_end,
        }
    )
    return reporter


def print_csv(rows: Sequence[dict[str, Any]], probs: bool) -> None:
    """Predictions as CSV on stdout."""
    import csv

    writer = csv.writer(sys.stdout)
    answers = bool(rows) and "answer" in rows[0]
    writer.writerow(
        ["path", "text", *(["answer"] if answers else []), "confidence", "status", *(["probs"] if probs else [])]
    )
    for row in rows:
        status = "rejected" if row["rejected"] else "ok"
        answer = [("" if row["answer"] is None else row["answer"])] if answers else []
        extra = [" ".join(f"{v:.4f}" for v in row["probs"])] if probs else []
        writer.writerow([row["path"], row["text"], *answer, f"{row['confidence']:.4f}", status, *extra])
    sys.stdout.flush()


def render_predictions(rows: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    console = console or stdout
    table = Table()
    answers = bool(rows) and "answer" in rows[0]
    columns = [("path", "left"), ("text", "left"), *([("answer", "right")] if answers else [])]
    for column, justify in (*columns, ("confidence", "right"), ("status", "left")):
        table.add_column(column, justify=justify)
    for row in rows:
        status = "[yellow]rejected[/]" if row["rejected"] else "ok"
        answer = [("-" if row["answer"] is None else str(row["answer"]))] if answers else []
        table.add_row(escape(row["path"]), escape(row["text"]), *answer, f"{row['confidence']:.3f}", status)
    console.print(table)


def render_screen(result: dict[str, Any], console: Console | None = None) -> None:
    """`captcha screen`: each part's model, then the most suspect labels."""
    console = console or stdout
    render_table(
        f"{result['images']:,} images of {result['data']}, {len(result['parts'])} parts",
        ["part", "trained on", "read", "steps", "full-string", "misreads"],
        (
            (
                p["part"],
                f"{p['train']:,}",
                f"{p['held_out']:,}",
                f"{p['steps']:,}",
                f"{p['full_string_accuracy']:.2%}",
                p["misreads"],
            )
            for p in result["parts"]
        ),
        console,
    )
    found = result["suspects"]
    render_table(
        "Most suspect labels (ln P(reading) - ln P(label))",
        ["path", "label", "reading", "confidence", "margin"],
        ((s["path"], s["truth"], s["predicted"], f"{s['confidence']:.3f}", f"{s['margin']:.1f}") for s in found["top"]),
        console,
    )
    console.print(
        f"All {found['count']} misreads, most suspect first: {found['path']} (gallery {found['gallery']})",
        markup=False,
    )


def render_evaluation(result: dict[str, Any], console: Console | None = None) -> None:
    """The evaluation report: headline numbers, per length, confusions, confidence curve."""
    console = console or stdout
    skipped = f" ({result['skipped']} left out)" if result["skipped"] else ""
    rows = [
        ("model", result["model"]),
        ("images", f"{result['images']:,}{skipped}"),
        ("full-string accuracy", f"{result['full_string_accuracy']:.2%}"),
        ("per-character accuracy", f"{result['char_accuracy']:.2%}"),
        ("character error rate", f"{result['cer']:.2%}"),
        (
            "calibration error (ECE)",
            f"{result['calibration']['ece']:.3f}" + ("" if result.get("calibrated") else " (uncalibrated model)"),
        ),
    ]
    console.print(key_value_grid(rows))
    render_table(
        "By label length",
        ["length", "images", "full-string accuracy"],
        [(k, v["images"], f"{v['full_string_accuracy']:.2%}") for k, v in result["by_length"].items()],
        console,
    )
    if result["confusions"]:
        render_table(
            "Most confused characters",
            ["truth", "read as", "count"],
            [(c["truth"], c["predicted"], c["count"]) for c in result["confusions"]],
            console,
        )
    render_table(
        "Accuracy against confidence threshold",
        ["threshold", "answered", "accuracy when answered"],
        [
            (f"{c['threshold']:.2f}", f"{c['answered']:.1%}", "-" if c["accuracy"] is None else f"{c['accuracy']:.2%}")
            for c in result["by_confidence"]
        ],
        console,
    )
    if "diagram" in result["calibration"]:
        console.print(f"Reliability diagram: {result['calibration']['diagram']}", markup=False)
    if "suspects" in result:
        found = result["suspects"]
        console.print(
            f"Suspect labels: {found['path']} ({found['count']} misreads, most suspect first; gallery "
            f"{found['gallery']})",
            markup=False,
        )
    if "error_grid" in result:
        grid = result["error_grid"]
        console.print(f"Misread images: {grid['path']} ({grid['shown']} shown)", markup=False)
