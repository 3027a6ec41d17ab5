"""Run folders: naming, config, metrics rows and rotating step checkpoints, all written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from captcha_cli.atomic import write_text_atomic
from captcha_cli.errors import TrainingError

METRIC_FIELDS = ["step", "loss", "val_loss", "full_string_acc", "char_acc", "lr", "images_per_s", "elapsed_s"]
OPTIONAL_METRIC_FIELDS = ["pseudo_labelled"]  # --unlabelled runs only
CHECKPOINT_DIR = re.compile(r"^step-(\d{8})$")
RUN_CONFIG_KEYS = ("spec", "config", "data")  # the sections `--resume` rebuilds the run from
AVERAGES_FILE = "averages.npz"  # the --ema weight averages, beside the optimizer's state


def next_run_dir(project: Path, name: str | None, prefix: str = "exp") -> Path:
    """`project/NAME`, or the first free of `exp`, `exp2`, `exp3`, ... (or of another prefix)."""
    if name:
        path = project / name
        if path.exists() and any(path.iterdir()):
            raise TrainingError(
                f"{path}: run folder already exists",
                hint=f"choose another --name, or continue it with --resume {path}",
            )
        return path
    index = 1
    while (project / (prefix if index == 1 else f"{prefix}{index}")).exists():
        index += 1
    return project / (prefix if index == 1 else f"{prefix}{index}")


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_text_atomic(run_dir / "config.json", json.dumps(config, indent=2) + "\n")


def read_config(run_dir: Path) -> dict[str, Any]:
    """The config.json of a run folder; a damaged one names itself and what is wrong."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise TrainingError(f"{run_dir}: not a run folder (no config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise TrainingError(
            f"{path}: damaged run config (not valid JSON: {exc.msg} at line {exc.lineno})",
            hint="restore it, or start a new run",
        ) from None
    missing = [key for key in RUN_CONFIG_KEYS if not isinstance(config, dict) or not isinstance(config.get(key), dict)]
    if missing:
        raise TrainingError(
            f"{path}: damaged run config (no {', '.join(missing)} section)", hint="restore it, or start a new run"
        )
    return config


class MetricsLog:
    """`metrics.csv`: one row per validation, rewritten atomically so a kill never leaves half a row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                self.rows = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]

    def keep_until(self, step: int) -> None:
        """Drop rows written after the checkpoint a resumed run starts from."""
        self.rows = [row for row in self.rows if row["step"] <= step]
        self._write()

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        buffer = io.StringIO()
        fields = METRIC_FIELDS + [k for k in OPTIONAL_METRIC_FIELDS if any(k in row for row in self.rows)]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (int(row[k]) if k == "step" else row.get(k, "")) for k in fields})
        write_text_atomic(self.path, buffer.getvalue())


@dataclass
class Checkpoint:
    step: int
    path: Path


def read_arrays(path: Path) -> list[np.ndarray]:
    """The arrays an `np.savez(path, *arrays)` wrote, in their order."""
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


RANDOM_STATES_FILE = "random_states.npz"


def random_states(model) -> list:
    """The states of the model's random generators (its Dropout masks), which `save_weights` does
    not keep: without them a resumed run would draw other masks than the run it continues."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _assign_saved(variables: list, values: list[np.ndarray], path: Path, what: str) -> None:
    if len(values) != len(variables):
        raise TrainingError(f"{path}: {what} does not match this model")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


class Checkpoints:
    """Step checkpoints in `checkpoints/step-NNNNNNNN/`: weights, optimizer state and loop state.

    Each is written into a hidden temporary folder and renamed into place, so a killed process
    never leaves a half-written checkpoint; only the newest `keep` are kept.
    """

    def __init__(self, root: Path, keep: int) -> None:
        self.root = root
        self.keep = keep
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".step-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)

    def list(self) -> list[Checkpoint]:
        return self.complete_in(self.root)

    @staticmethod
    def complete_in(root: Path) -> list[Checkpoint]:
        """The complete checkpoints in a folder, oldest first."""
        found = []
        for path in root.iterdir() if root.is_dir() else ():
            match = CHECKPOINT_DIR.match(path.name)
            if match and (path / "state.json").is_file():
                found.append(Checkpoint(int(match.group(1)), path))
        return sorted(found, key=lambda c: c.step)

    @staticmethod
    def latest_in(root: Path) -> Checkpoint | None:
        found = Checkpoints.complete_in(root)
        return found[-1] if found else None

    def save(
        self, model, optimizer, step: int, state: dict[str, Any], averages: list[np.ndarray] | None = None
    ) -> Path:
        final = self.root / f"step-{step:08d}"
        tmp = self.root / f".step-{step:08d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        model.save_weights(tmp / "model.weights.h5")
        np.savez(tmp / "optimizer.npz", *[np.asarray(v.numpy()) for v in optimizer.variables])
        np.savez(tmp / RANDOM_STATES_FILE, *[np.asarray(v.numpy()) for v in random_states(model)])
        if averages is not None:
            np.savez(tmp / AVERAGES_FILE, *averages)
        (tmp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in self.list()[: -self.keep]:
            shutil.rmtree(old.path, ignore_errors=True)
        return final

    @staticmethod
    def saved_averages(path: Path) -> list[np.ndarray] | None:
        """The weight averages (`--ema`) a checkpoint holds, or None."""
        return read_arrays(path / AVERAGES_FILE) if (path / AVERAGES_FILE).is_file() else None

    @staticmethod
    def load(path: Path, model, optimizer) -> dict[str, Any]:
        """Restore weights, optimizer variables and random states; returns the saved loop state."""
        model.load_weights(path / "model.weights.h5")
        optimizer.build(model.trainable_variables)
        _assign_saved(optimizer.variables, read_arrays(path / "optimizer.npz"), path, "optimizer state")
        if (path / RANDOM_STATES_FILE).is_file():  # older checkpoints have none: their masks start afresh
            _assign_saved(random_states(model), read_arrays(path / RANDOM_STATES_FILE), path, "random state")
        return json.loads((path / "state.json").read_text(encoding="utf-8"))


def parse_duration(text: str) -> float:
    """`90s`, `10m`, `2h`, `1h30m` or plain seconds -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise TrainingError(f"durations look like 90s, 10m, 2h or 1h30m. Received: time={text!r}")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Seconds as `1h02m`, `12m30s` or `45s`: the other way round from parse_duration."""
    whole = int(seconds)
    hours, minutes, secs = whole // 3600, whole % 3600 // 60, whole % 60
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
