"""`captcha train` end to end on tiny images and a tiny preset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captcha_cli.inference.readers import Reader
from captcha_cli.model.modelio import load_model
from captcha_cli.spec import load_spec
from captcha_cli.training.runs import MetricsLog, format_duration, parse_duration, read_arrays
from tests.conftest import TINY_TRAIN
from tests.helpers import invoke, invoke_json


def test_run_folder_contents(trained_run) -> None:
    run, result = trained_run
    data = json.loads(result.stdout)
    assert data["step"] == 24 and data["stop_reason"] == "max steps reached"
    for name in (
        "config.json",
        "best.keras",
        "best.spec.json",
        "last.keras",
        "last.spec.json",
        "metrics.csv",
        "curves.png",
    ):
        assert (run / name).is_file(), name
    assert list((run / "logs").iterdir())  # TensorBoard event files


def test_checkpoints_rotate_to_keep(trained_run) -> None:
    run, _ = trained_run
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["step-00000020", "step-00000024"]  # 5, 10, 15 rotated away; the final one kept
    for name in names:
        assert {p.name for p in (run / "checkpoints" / name).iterdir()} == {
            "model.weights.h5",
            "optimizer.npz",
            "random_states.npz",
            "state.json",
        }


def test_metrics_rows(trained_run) -> None:
    run, _ = trained_run
    rows = MetricsLog(run / "metrics.csv").rows
    assert [int(r["step"]) for r in rows] == [6, 12, 18, 24]
    for row in rows:
        assert 0.0 <= row["full_string_acc"] <= row["char_acc"] + 1e-9 <= 1.0 + 1e-9
        assert row["val_loss"] > 0 and row["lr"] == pytest.approx(0.001)
    assert rows[-1]["loss"] < rows[0]["loss"]  # it learns something


def test_curves_png_is_an_image(trained_run) -> None:
    run, _ = trained_run
    image = Image.open(run / "curves.png")
    assert image.format == "PNG" and image.size == (1080, 240)
    assert np.asarray(image).std() > 10


def test_config_records_command_and_spec(trained_run) -> None:
    run, _ = trained_run
    config = json.loads((run / "config.json").read_text())
    # the command as typed, even under CliRunner (sys.argv there is pytest's)
    assert config["command"][:3] == ["captcha", "train", config["data"]["data"]]
    assert Path(config["data"]["data"]).is_absolute()  # --resume and calibrate may run elsewhere
    assert config["command"][3:7] == TINY_TRAIN[:4] and config["command"][-1] == "--json"
    assert config["spec"]["charset"] == "0123456789" and config["spec"]["max_length"] == 4
    assert config["spec"]["height"] == 32 and config["config"]["batch_size"] == 8


@pytest.mark.parametrize("name", ["best.keras", "last.keras"])
def test_saved_models_load_and_predict(trained_run, digits_dir, name) -> None:
    run, _ = trained_run
    reader = Reader(run / name)
    predictions = reader.read_files(sorted(digits_dir.glob("*.png"))[:5])
    assert len(predictions) == 5
    for p in predictions:
        assert set(p.text) <= set("0123456789") and len(p.text) <= 4
        assert 0.0 <= p.confidence <= 1.0 and len(p.position_probs) == 4


@pytest.mark.slow
def test_plateau_lowers_lr_with_panel(runner, tmp_path, digits_dir) -> None:
    result = invoke(
        runner,
        "train",
        digits_dir,
        *[a for a in TINY_TRAIN if a != "--quiet"],
        "--max-steps",
        "12",
        "--val-every",
        "2",
        "--patience",
        "1",
        "--lr",
        "0.05",
        "--project",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "Adaptive learning rate" in err and "initial learning rate  0.050000" in err
    assert "patience               1 validation rounds" in err
    assert "Learning rate lowered" in err
    assert "0.050000 -> 0.025000 (-50.0%)" in err
    assert "reason: val_loss did not improve in 1 rounds" in err
    rows = MetricsLog(tmp_path / "exp" / "metrics.csv").rows
    assert rows[-1]["lr"] < 0.05


@pytest.mark.slow
def test_resume_continues_steps_and_lr(runner, tmp_path, digits_dir) -> None:
    base = [
        *TINY_TRAIN,
        "--val-every",
        "2",
        "--save-every",
        "4",
        "--patience",
        "1",
        "--lr",
        "0.2",
        "--project",
        tmp_path,
        "--name",
        "r",
    ]
    assert invoke(runner, "train", digits_dir, *base, "--max-steps", "8").exit_code == 0
    state = json.loads((tmp_path / "r" / "checkpoints" / "step-00000008" / "state.json").read_text())
    result = invoke(runner, "train", "--resume", tmp_path / "r", "--max-steps", "12", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 12
    rows = MetricsLog(tmp_path / "r" / "metrics.csv").rows
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12]
    # continued from the saved rate (halved at most once by the next round), not from --lr's
    # default of 1e-3, which a resume that forgot the state would start from
    assert rows[4]["lr"] == pytest.approx(state["lr"]) or rows[4]["lr"] == pytest.approx(state["lr"] / 2)
    # the saved rate is --lr halved by zero to three plateaus (stored as float32, so compare approx)
    assert any(state["lr"] == pytest.approx(0.2 / 2**k) for k in range(4)), state["lr"]


class AtStep:
    """A callback that, at the end of one step, fails the run as a killed process would (no final
    checkpoint), or presses Ctrl-C (the run stops cleanly between two validation rounds)."""

    def __init__(self, step: int, action: str) -> None:
        import keras

        class Act(keras.callbacks.Callback):
            def on_train_batch_end(inner, batch, logs=None) -> None:  # noqa: N805
                inner.seen = getattr(inner, "seen", 0) + 1
                if inner.seen != step:
                    return
                if action == "crash":
                    raise RuntimeError(f"crashed at step {step}")
                os.kill(os.getpid(), signal.SIGINT)  # the handler `captcha train` installs sets its stop flag

        self.callback = Act()


RESUMED_RUN = [*TINY_TRAIN, "--val-every", "2", "--save-every", "3", "--patience", "1", "--lr", "0.05"]
RESUMED_RUN += ["--ema", "0.9", "--max-steps", "8"]


def assert_same_run(tmp_path: Path, rows_of_cut: list[int]) -> None:
    """The runs `whole` and `cut` end with the same weights, validation rows, rate and plateau state."""
    whole, cut = (load_model(tmp_path / name / "last.keras")[0].get_weights() for name in ("whole", "cut"))
    assert len(whole) == len(cut)
    for a, b in zip(whole, cut, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    rows = {name: MetricsLog(tmp_path / name / "metrics.csv").rows for name in ("whole", "cut")}
    assert [int(r["step"]) for r in rows["cut"]] == rows_of_cut
    cut_rows = [r for r in rows["cut"] if int(r["step"]) % 2 == 0]  # the rounds' rows, not a stop's
    for a, b in zip(rows["whole"], cut_rows, strict=True):
        for key in ("val_loss", "full_string_acc", "char_acc", "lr"):  # "loss": the round's steps since the resume
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    state = {
        name: json.loads((tmp_path / name / "checkpoints" / "step-00000008" / "state.json").read_text())
        for name in ("whole", "cut")
    }
    assert state["whole"]["plateau"] == state["cut"]["plateau"] and state["whole"]["lr"] == state["cut"]["lr"]


def whole_and_cut_runs(runner, tmp_path, digits_dir, monkeypatch, action: str, *extra: str):
    """The run `whole` to step 8, and the same run `cut` by `action` at step 5 (both with the
    options `extra`); returns the cut run's result."""
    import captcha_cli.training.trainer as training

    base = [*RESUMED_RUN, *extra, "--project", tmp_path]
    assert invoke(runner, "train", digits_dir, *base, "--name", "whole").exit_code == 0
    plain = training.run_callbacks
    with monkeypatch.context() as patch:
        patch.setattr(training, "run_callbacks", lambda *c: [AtStep(5, action).callback, *plain(*c)])
        return invoke(runner, "train", digits_dir, *base, "--name", "cut")


@pytest.mark.slow
def test_resume_after_a_crash_reaches_the_same_weights(runner, tmp_path, digits_dir, monkeypatch) -> None:
    """Steps 1-5, a crash, a resume from the step-3 checkpoint (inside the round of steps 3-4) to
    step 8: the same weights, learning rate and validation rows as a run that never stopped."""
    crashed = whole_and_cut_runs(runner, tmp_path, digits_dir, monkeypatch, "crash")
    assert crashed.exit_code == 1 and "crashed at step 5" in crashed.stderr
    assert sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()) == ["step-00000003"]
    assert invoke(runner, "train", "--resume", tmp_path / "cut").exit_code == 0
    assert_same_run(tmp_path, [2, 4, 6, 8])


@pytest.mark.slow
def test_resume_after_ctrl_c_reaches_the_same_weights(runner, tmp_path, digits_dir, monkeypatch) -> None:
    """Ctrl-C at step 5 (inside the round of steps 5-6): the run validates and saves at step 5, and
    the adaptive learning rate does not count that validation as a round, so the resumed run ends
    as the one that never stopped."""
    stopped = whole_and_cut_runs(runner, tmp_path, digits_dir, monkeypatch, "stop")
    assert stopped.exit_code == 130 and "Resume with" in stopped.stderr
    assert "step-00000005" in {p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()}
    assert invoke(runner, "train", "--resume", tmp_path / "cut").exit_code == 0
    assert_same_run(tmp_path, [2, 4, 5, 6, 8])


def test_resume_refuses_changed_arch_or_charset(runner, trained_run) -> None:
    run, _ = trained_run
    result = invoke(runner, "train", "--resume", run, "--arch", "resnet18")
    assert result.exit_code == 1
    assert f"Error: cannot resume {run} with --arch resnet18: its model was built with --arch tiny" in result.stderr
    result = invoke(runner, "train", "--resume", run, "--charset", "0-9a-f")
    assert result.exit_code == 1
    assert "with --charset '0123456789abcdef': its model was built with --charset '0123456789'" in result.stderr


@pytest.mark.slow
def test_run_names_auto_number(runner, tmp_path, digits_dir) -> None:
    for expected in ("exp", "exp2"):
        result = invoke(
            runner,
            "train",
            digits_dir,
            *TINY_TRAIN,
            "--max-steps",
            "1",
            "--val-every",
            "1",
            "--project",
            tmp_path,
            "--json",
        )
        assert json.loads(result.stdout)["run_dir"] == str(tmp_path / expected)


def _trained_weights(runner, tmp_path, digits_dir, seed: str) -> list[np.ndarray]:
    """The weights after one training step with --seed SEED."""
    result = invoke(
        runner, "train", digits_dir, *TINY_TRAIN, "--max-steps", "1", "--seed", seed, "--project", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.output
    model, _, _ = load_model(Path(json.loads(result.stdout)["run_dir"]) / "last.keras")
    return model.get_weights()


@pytest.mark.slow
def test_seed_fixes_the_initial_weights(runner, tmp_path, digits_dir) -> None:
    first, again, other = (_trained_weights(runner, tmp_path, digits_dir, seed) for seed in ("3", "3", "4"))
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(first, again, strict=True))
    kernels = [(a, b) for a, b in zip(first, other, strict=True) if a.ndim == 4]  # convolution kernels
    assert all(np.abs(a - b).max() > 1e-2 for a, b in kernels)


@pytest.mark.slow
def test_time_budget_stops_cleanly(runner, tmp_path, digits_dir) -> None:
    result = invoke(runner, "train", digits_dir, *TINY_TRAIN, "--time", "1s", "--project", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stop_reason"] == "time budget used"
    assert (tmp_path / "exp" / "last.keras").is_file() and (tmp_path / "exp" / "best.keras").is_file()


@pytest.mark.slow
def test_resume_keeps_the_runs_time_budget(runner, tmp_path, digits_dir) -> None:
    run = tmp_path / "t"
    first = invoke_json(runner, "train", digits_dir, *TINY_TRAIN, "--time", "1s", "--project", tmp_path, "--name", "t")
    assert first["stop_reason"] == "time budget used"
    assert json.loads((run / "config.json").read_text())["config"]["time_budget_s"] == 1.0
    # the printed resume command continues the same 1-second budget, all of it used: no step more
    again = invoke(runner, "train", "--resume", run)
    assert again.exit_code == 0, again.output
    assert f"Resumed {run} at step {first['step']:,}" in again.output and "trained of its 1s" in again.output
    assert "time budget used (the run's --time is 1s: a longer one goes on)" in again.output
    steps = [int(row["step"]) for row in MetricsLog(run / "metrics.csv").rows]
    assert steps[-1] == first["step"] and len(steps) == len(set(steps))  # no second row for the same step
    # a --time given on resume is the run's new budget, kept for the next resume
    more = invoke_json(runner, "train", "--resume", run, "--time", "1h", "--max-steps", str(first["step"] + 2))
    assert (more["step"], more["stop_reason"]) == (first["step"] + 2, "max steps reached")
    assert json.loads((run / "config.json").read_text())["config"]["time_budget_s"] == 3600.0


@pytest.mark.slow
def test_weight_decay_is_shown_recorded_and_kept_on_resume(runner, tmp_path, digits_dir) -> None:
    run = tmp_path / "wd"
    tiny = [a for a in TINY_TRAIN if a != "--quiet"]
    args = ("--max-steps", "2", "--val-every", "2", "--project", tmp_path, "--name", "wd")
    result = invoke(runner, "train", digits_dir, *tiny, *args, "--weight-decay", "0.05")
    assert result.exit_code == 0, result.output
    assert "weight decay   0.05 (kernels, decoupled)" in result.stderr
    assert json.loads((run / "config.json").read_text())["config"]["weight_decay"] == 0.05
    again = invoke(runner, "train", "--resume", run, "--max-steps", "4")
    assert again.exit_code == 0, again.output
    assert "weight decay   0.05" in again.stderr
    plain = invoke(runner, "train", digits_dir, *tiny, "--max-steps", "1", "--project", tmp_path, "--name", "p")
    assert "weight decay" not in plain.stderr
    result = invoke(runner, "train", digits_dir, *TINY_TRAIN, "--weight-decay", "-1", "--project", tmp_path)
    assert result.exit_code == 2 and "--weight-decay" in result.output


def _float_weights(model) -> list[np.ndarray]:
    return [w.numpy() for w in model.weights if "float" in str(w.dtype)]


@pytest.mark.slow
def test_ema_saves_the_average_and_resumes_it(runner, tmp_path, digits_dir) -> None:
    run = tmp_path / "ema"
    tiny = [a for a in TINY_TRAIN if a != "--quiet"]
    args = ("--max-steps", "4", "--val-every", "2", "--save-every", "4", "--project", tmp_path, "--name", "ema")
    result = invoke(runner, "train", digits_dir, *tiny, *args, "--ema", "0.9")
    assert result.exit_code == 0, result.output
    assert "weight average 0.9 decay per step (validated and saved)" in result.stderr
    assert json.loads((run / "config.json").read_text())["config"]["ema"] == 0.9
    checkpoint = run / "checkpoints" / "step-00000004"
    averages = read_arrays(checkpoint / "averages.npz")
    live = load_model(run / "last.keras")[0]
    assert len(averages) == len(_float_weights(live))
    for saved, value in zip(averages, _float_weights(live), strict=True):
        np.testing.assert_allclose(value, saved, rtol=1e-6)  # last.keras holds the average
    live.load_weights(checkpoint / "model.weights.h5")  # the checkpoint keeps the step's own weights
    assert any(not np.allclose(a, w) for a, w in zip(averages, _float_weights(live), strict=True))
    # resumed with no step left, the run saves last.keras again: from the average it restored
    (run / "last.keras").unlink()
    again = invoke(runner, "train", "--resume", run)
    assert again.exit_code == 0, again.output
    for saved, value in zip(averages, _float_weights(load_model(run / "last.keras")[0]), strict=True):
        np.testing.assert_allclose(value, saved, rtol=1e-6)
    plain = invoke(runner, "train", digits_dir, *tiny, "--max-steps", "1", "--project", tmp_path, "--name", "p")
    assert "weight average" not in plain.stderr
    assert not (tmp_path / "p" / "checkpoints" / "step-00000001" / "averages.npz").exists()
    refused = invoke(runner, "train", digits_dir, *TINY_TRAIN, "--ema", "1", "--project", tmp_path)
    assert refused.exit_code == 2 and "--ema" in refused.output


@pytest.mark.slow
def test_bad_data_stops_before_training(runner, tmp_path, digits_dir) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for path in sorted(digits_dir.glob("*.png"))[:10]:
        (data / path.name).write_bytes(path.read_bytes())
    (data / "12x4-a.png").write_bytes((data / next(data.iterdir()).name).read_bytes()[:100])
    result = invoke(runner, "train", data, *TINY_TRAIN, "--max-steps", "1", "--project", tmp_path / "runs")
    assert result.exit_code == 1
    assert f"Error: {data}: 1 invalid file; nothing was trained" in result.stderr
    assert "truncated image" in result.stderr and "--skip-invalid" in result.stderr
    result = invoke(
        runner,
        "train",
        data,
        *TINY_TRAIN,
        "--max-steps",
        "1",
        "--val-every",
        "1",
        "--skip-invalid",
        "--project",
        tmp_path / "runs",
    )
    assert result.exit_code == 0, result.output


def test_parse_and_format_duration() -> None:
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600
    assert parse_duration("1h30m") == 5400 and parse_duration("2") == 2
    assert [format_duration(s) for s in (0.4, 45, 750.9, 3720)] == ["0s", "45s", "12m30s", "1h02m"]
    assert parse_duration(format_duration(750)) == 750


def _train_process(digits_dir, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`captcha train DIGITS <tiny settings> ARGS` in a fresh interpreter, output piped."""
    command = [sys.executable, "-m", "captcha_cli", "train", str(digits_dir), *TINY_TRAIN, *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )


def _start_training(tmp_path, digits_dir, *extra: str) -> subprocess.Popen:
    args = ("--max-steps", "100000", "--val-every", "3", "--save-every", "3", "--project", str(tmp_path))
    return _train_process(digits_dir, *args, "--name", "s", *extra, env={"PYTHONUNBUFFERED": "1"})


def _wait_for_checkpoint(tmp_path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folder = tmp_path / "s" / "checkpoints"
        if folder.is_dir() and len([p for p in folder.iterdir() if p.name.startswith("step-")]) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.slow
def test_sigint_saves_and_exits_with_resume_hint(tmp_path, digits_dir) -> None:
    proc = _start_training(tmp_path, digits_dir)
    _wait_for_checkpoint(tmp_path, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"Resume with: captcha train --resume {tmp_path / 's'}" in err
    assert (tmp_path / "s" / "last.keras").is_file()


@pytest.mark.slow
def test_sigkill_leaves_complete_files_and_resumes(runner, tmp_path, digits_dir) -> None:
    proc = _start_training(tmp_path, digits_dir)
    _wait_for_checkpoint(tmp_path, 2, proc)
    proc.kill()
    proc.wait(timeout=30)
    checkpoints = tmp_path / "s" / "checkpoints"
    complete = [p for p in checkpoints.iterdir() if p.name.startswith("step-")]
    for folder in complete:
        assert {p.name for p in folder.iterdir()} == {
            "model.weights.h5",
            "optimizer.npz",
            "random_states.npz",
            "state.json",
        }
        json.loads((folder / "state.json").read_text())
    for model_file in (tmp_path / "s").glob("*.keras"):  # visible models are complete and load
        Reader(model_file)
    last_step = max(int(p.name.split("-")[1]) for p in complete)
    result = invoke(runner, "train", "--resume", tmp_path / "s", "--max-steps", str(last_step + 3), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == last_step + 3


def test_ctc_loss_trains_and_reads(runner, tmp_path, digits_dir) -> None:
    args = [a if a != "64" else "256" for a in TINY_TRAIN]  # the last stage keeps the width: 16 steps
    result = invoke(
        runner,
        "train",
        digits_dir,
        *args,
        "--loss",
        "ctc",
        "--max-steps",
        "4",
        "--val-every",
        "2",
        "--project",
        tmp_path,
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = MetricsLog(tmp_path / "exp" / "metrics.csv").rows
    assert len(rows) == 2 and all(np.isfinite(r["val_loss"]) for r in rows)
    reader = Reader(tmp_path / "exp" / "best.keras")
    assert reader.spec.loss == "ctc" and reader.model.output_shape == (None, 16 * 11)
    assert reader.spec.stage_width_strides == (1, 2, 2, 1)  # 4 time steps per character
    prediction = reader.read_files(sorted(digits_dir.glob("*.png"))[:1])[0]
    assert len(prediction.text) <= 4 and 0.0 <= prediction.confidence <= 1.0


def test_dropout_option_sets_the_heads_rate(runner, tmp_path, digits_dir) -> None:
    one_step = [*TINY_TRAIN, "--max-steps", "1", "--val-every", "1", "--project", tmp_path]
    result = invoke(runner, "train", digits_dir, *one_step, "--dropout", "0.1")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "exp" / "config.json").read_text())["spec"]["dropout"] == 0.1
    model, spec, _ = load_model(tmp_path / "exp" / "best.keras")
    assert spec.dropout == 0.1 and model.get_layer("dropout_fc").rate == 0.1
    refused = invoke(runner, "train", digits_dir, *one_step, "--dropout", "1", "--name", "refused")
    assert refused.exit_code == 2 and "1 is not in [0, 1)" in refused.output
    assert not (tmp_path / "refused").exists()


# One step of the `small` preset at 32x128 (8 time steps for 4 characters), otherwise TINY_TRAIN.
SMALL_ONE_STEP = [{"tiny": "small", "64": "128"}.get(a, a) for a in TINY_TRAIN if a != "--quiet"]
SMALL_ONE_STEP += ["--max-steps", "1", "--val-every", "1"]


@pytest.mark.slow
def test_small_preset_reads_raw_images_unless_told(runner, tmp_path, digits_dir, trained_run) -> None:
    """The `small` preset trains on unnormalized images (measured better); --backend still wins."""
    small = [*SMALL_ONE_STEP, "--quiet"]
    for name, extra, expected in [("raw", [], "none"), ("report", ["--backend", "opencv"], "opencv")]:
        result = invoke(runner, "train", digits_dir, *small, *extra, "--project", tmp_path, "--name", name)
        assert result.exit_code == 0, result.output
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert (config["spec"]["arch"], config["spec"]["preprocessing"]) == ("small", expected)
        assert load_spec(tmp_path / name / "best.keras").preprocessing == expected
    tiny = json.loads((trained_run[0] / "config.json").read_text())
    assert tiny["spec"]["preprocessing"] == "opencv"  # the report's models keep the report's normalization


@pytest.mark.slow
def test_small_preset_on_a_cache_of_the_reports_preprocessing(runner, tmp_path, digits_dir) -> None:
    """A cache keeps its preprocessing, with a note that `small` trains better raw; --backend none
    asked for with that cache is refused."""
    cache = tmp_path / "cache"
    made = invoke(runner, "preprocess", digits_dir, "--cache", cache, "--height", "32", "--width", "128", "--quiet")
    assert made.exit_code == 0, made.output
    small = [*SMALL_ONE_STEP, "--project", tmp_path]  # not --quiet: the note is not for quiet runs
    result = invoke(runner, "train", cache, *small, "--name", "cached")
    assert result.exit_code == 0, result.output
    assert f"{cache} was preprocessed with --backend opencv; the small preset reads far better" in result.output
    assert json.loads((tmp_path / "cached" / "config.json").read_text())["spec"]["preprocessing"] == "opencv"
    refused = invoke(runner, "train", cache, *small, "--backend", "none", "--name", "refused")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        f"Error: {cache}: cache images were preprocessed with --backend opencv, training asks for --backend none"
    )
    assert not (tmp_path / "refused").exists()


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, digits_dir) -> None:
    argv = [
        "train",
        str(digits_dir),
        *TINY_TRAIN,
        "--strategy",
        "mirrored",
        "--ema",  # the average lives beside mirrored weights and updates in the cross-replica context
        "0.9",
        "--confidence-penalty",  # computed per replica, like the loss
        "0.1",
        "--max-steps",
        "4",
        "--val-every",
        "2",
        "--project",
        str(tmp_path),
    ]
    argv.remove("--quiet")
    code = (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from captcha_cli.cli.app import app\n"
        f"app({argv!r})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "MirroredStrategy over 2 replicas: global batch 8, 4 per replica" in out.stderr
    assert "penalty        0.1 x output entropy subtracted from the loss" in out.stderr
    assert "Stopped at step 4: max steps reached" in out.stderr
    rows = MetricsLog(tmp_path / "exp" / "metrics.csv").rows
    assert [int(r["step"]) for r in rows] == [2, 4] and all(np.isfinite(r["val_loss"]) for r in rows)
    Reader(tmp_path / "exp" / "best.keras")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_with_two_local_processes(tmp_path, digits_dir) -> None:
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        args = (
            "--strategy",
            "multi-worker",
            "--ema",  # each worker keeps the average in step with its mirrored weights
            "0.9",
            "--confidence-penalty",
            "0.1",
            "--max-steps",
            "4",
            "--val-every",
            "2",
            "--project",
            str(tmp_path / f"w{index}"),
        )
        procs.append(_train_process(digits_dir, *args, env={"TF_CONFIG": tf_config}))
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    rows = MetricsLog(tmp_path / "w0" / "exp" / "metrics.csv").rows  # the chief (worker 0) writes the run
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert not (tmp_path / "w1").exists()  # the other worker wrote only to a scratch folder
    Reader(tmp_path / "w0" / "exp" / "best.keras")


def test_strategy_errors(runner, tmp_path, digits_dir, monkeypatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = invoke(runner, "train", digits_dir, *TINY_TRAIN, "--strategy", "multi-worker", "--project", tmp_path)
    assert result.exit_code == 1
    assert "Error: --strategy multi-worker needs TF_CONFIG describing the cluster and this task" in result.stderr
    from types import SimpleNamespace

    from captcha_cli.errors import TrainingError
    from captcha_cli.training.distribute import check_batch

    check_batch(8, SimpleNamespace(num_replicas_in_sync=2))
    with pytest.raises(TrainingError, match="divide evenly over 2 replicas. Received: batch_size=7"):
        check_batch(7, SimpleNamespace(num_replicas_in_sync=2))


@pytest.mark.slow
def test_confidence_penalty_steers_training_but_not_the_logged_loss(runner, tmp_path, digits_dir) -> None:
    two_steps = [a for a in TINY_TRAIN if a != "--quiet"] + ["--max-steps", "2", "--val-every", "1"]
    losses = {}
    for name, extra in [("plain", []), ("penalty", ["--confidence-penalty", "2"])]:
        result = invoke(runner, "train", digits_dir, *two_steps, *extra, "--project", tmp_path, "--name", name)
        assert result.exit_code == 0, result.output
        assert ("2 x output entropy subtracted from the loss" in result.stderr) == bool(extra)
        losses[name] = [row["loss"] for row in MetricsLog(tmp_path / name / "metrics.csv").rows]
    assert json.loads((tmp_path / "penalty" / "config.json").read_text())["config"]["confidence_penalty"] == 2
    # step 1 scores the same starting weights: the log shows the loss alone; step 2 follows another update
    assert losses["penalty"][0] == pytest.approx(losses["plain"][0], rel=1e-6)
    assert losses["penalty"][1] != pytest.approx(losses["plain"][1], rel=1e-4)
