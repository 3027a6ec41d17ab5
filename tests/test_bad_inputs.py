"""Every kind of bad input a new user tries: a one-line `Error:` naming the file or value, exit 1
(2 for usage errors), no traceback, and nothing of the user's changed. With --skip-invalid every
file left out is counted by its reason."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import TINY_TRAIN
from tests.helpers import invoke

# ----- helpers ------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every file (and link) under a folder with a digest of its bytes (or its link target)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                found[str(path)] = "-> " + os.readlink(path)
            else:
                found[str(path)] = hashlib.md5(path.read_bytes()).hexdigest()
    return found


def first_error(result) -> str:
    """The `Error:` line of a result's stderr (there must be exactly one)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_refused(result, message: str, exit_code: int = 1) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert first_error(result) == f"Error: {message}"


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 32)) -> bytes:
    image = Image.effect_noise(size, 40 + seed).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 32), 50).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def damaged_pixels() -> bytes:
    """A PNG whose header and end marker are intact but whose compressed pixels are garbage."""
    data = bytearray(png_bytes(7))
    start = data.index(b"IDAT") + 4
    data[start : start + 40] = b"\x00" * 40
    return bytes(data)


@pytest.fixture
def dataset(tmp_path, digits_dir) -> Path:
    """Ten good labelled captchas the user owns."""
    folder = tmp_path / "data"
    folder.mkdir()
    for path in sorted(digits_dir.glob("*.png"))[:10]:
        shutil.copy(path, folder / path.name)
    return folder


def train(runner, data: Path, *extra: str):
    project = data.parent / "runs"
    return invoke(runner, "train", data, *TINY_TRAIN, "--max-steps", "1", "--project", project, *extra)


def unprivileged(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a new process without root's power to read what permissions forbid."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "these checks need util-linux's setpriv to drop root's capabilities"
        prefix = [setpriv, "--bounding-set=-all", "--inh-caps=-all"]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "captcha_cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


# ----- files in a dataset folder: each stops training with the problems table -----------------

Make = Callable[[Path], str]  # adds one bad thing to a folder; returns the name the table shows


def _write(name: str, content: bytes) -> Make:
    def make(folder: Path) -> str:
        (folder / name).write_bytes(content)
        return name

    return make


def _bomb(folder: Path) -> str:
    Image.new("L", (12_000, 12_000)).save(folder / "1234-bomb.png")  # 144 Mpx > PIL's 89 Mpx limit
    return "1234-bomb.png"


def _symlink_loop(folder: Path) -> str:
    os.symlink(folder / "1111-a.png", folder / "1111-a.png")  # a link to itself: ELOOP
    return "1111-a.png"


def _dangling_link(folder: Path) -> str:
    os.symlink(folder / "gone.png", folder / "2222-x.png")
    return "2222-x.png"


FILE_PROBLEMS: dict[str, tuple[Make, str]] = {
    "zero-byte": (_write("1234-zero.png", b""), "zero-byte file"),
    "truncated PNG": (_write("1234-cut.png", png_bytes()[:300]), "truncated image"),
    "truncated JPEG": (_write("1234-cut.jpg", jpeg_bytes()[:400]), "truncated image"),
    "non-image": (_write("1234-text.png", b"these are not the pixels you are looking for"), "not an image"),
    "decompression bomb": (_bomb, "image too large"),
    "empty label": (_write("-nolabel.png", png_bytes()), "empty label"),
    "outside the charset": (_write("12a4-x.png", png_bytes()), "characters outside the charset"),
    "too long": (_write("123456-x.png", png_bytes()), "label too long"),
    "symlink loop": (_symlink_loop, "broken link"),
    "dangling link": (_dangling_link, "broken link"),
}


@pytest.mark.parametrize("case", list(FILE_PROBLEMS))
def test_a_bad_file_stops_training_naming_it(runner, dataset, case) -> None:
    make, kind = FILE_PROBLEMS[case]
    shown = make(dataset)
    before = snapshot(dataset)
    result = train(runner, dataset)
    assert_refused(result, f"{dataset}: 1 invalid file; nothing was trained")
    assert kind in result.stderr and shown in result.stderr
    assert snapshot(dataset) == before and not (dataset.parent / "runs").exists()


def test_damaged_pixel_data_names_the_file(runner, dataset) -> None:
    (dataset / "1234-damaged.png").write_bytes(damaged_pixels())
    before = snapshot(dataset)
    result = train(runner, dataset)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert first_error(result).startswith(f"Error: {dataset / '1234-damaged.png'}: ")
    assert snapshot(dataset) == before


def test_skip_invalid_counts_every_left_out_file_by_reason(runner, dataset) -> None:
    for make, _ in FILE_PROBLEMS.values():
        make(dataset)
    before = snapshot(dataset)
    audit = json.loads(
        invoke(runner, "summary", "--data", dataset, "--max-length", "4", "--charset", "0-9", "--json").stdout
    )
    counts = {row["problem"]: row["count"] for row in audit["problems"]}
    assert counts == {
        "zero-byte file": 1,
        "truncated image": 2,
        "not an image": 1,
        "image too large": 1,
        "empty label": 1,
        "characters outside the charset": 1,
        "label too long": 1,
        "broken link": 2,
    }
    loud = [a for a in TINY_TRAIN if a != "--quiet"]
    result = invoke(
        runner,
        "train",
        dataset,
        *loud,
        "--max-steps",
        "1",
        "--val-every",
        "1",
        "--skip-invalid",
        "--project",
        dataset.parent / "runs",
    )
    assert result.exit_code == 0, result.output
    assert "Left out 10 invalid files (--skip-invalid): " in result.stderr
    for kind, count in counts.items():
        assert f"{kind}: {count}" in result.stderr
    assert snapshot(dataset) == before


# ----- manifests -----------------------------------------------------------------------------


def _manifest_folder(folder: Path, text: bytes) -> Path:
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(png_bytes(len(name)))
    (folder / "labels.csv").write_bytes(text)
    return folder


def test_a_file_listed_twice_with_two_labels_is_a_problem(runner, tmp_path) -> None:
    data = _manifest_folder(tmp_path, b"filename,label\na.png,1234\nb.png,5678\na.png,4321\n")
    result = train(runner, data)
    assert_refused(result, f"{data}: 1 invalid file; nothing was trained")
    assert "conflicting labels" in result.stderr
    assert "a.png (labels.csv line 2: '1234', line 4: '4321')" in result.stderr
    (tmp_path / "same").mkdir()
    same = _manifest_folder(tmp_path / "same", b"filename,label\na.png,1234\nb.png,5678\na.png,1234\n")
    audit = json.loads(invoke(runner, "summary", "--data", same, "--json").stdout)
    assert audit["labelled"] == 2 and audit["problems"] == []  # the same label twice loses nothing


def test_a_manifest_that_is_not_utf8_names_itself(runner, tmp_path) -> None:
    data = _manifest_folder(tmp_path, b"filename,label\na.png,1234\nb.png,5678\n" + b"\xff\xfe,x\n")
    before = snapshot(data)
    assert_refused(train(runner, data), f"{data / 'labels.csv'}: not UTF-8 text (byte 0xff at offset 37)")
    assert snapshot(data) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"file,text\na.png,1234\n", "labels.csv: needs the columns filename and label"),
        (b"filename\na.png\n", "labels.csv: needs the columns filename and label"),
    ],
)
def test_a_manifest_without_its_columns(runner, tmp_path, text, message) -> None:
    data = _manifest_folder(tmp_path, text)
    assert_refused(train(runner, data), f"{data / message}")


def test_manifest_rows_without_files_and_rows_without_labels(runner, tmp_path) -> None:
    data = _manifest_folder(tmp_path, b"filename,label\na.png,1234\nb.png\nmissing.png,9999\n")
    result = train(runner, data)
    assert_refused(result, f"{data}: 2 invalid files; nothing was trained")
    assert "manifest entry without a file" in result.stderr and "missing.png" in result.stderr
    assert "empty label" in result.stderr and "b.png" in result.stderr


def test_a_jsonl_manifest_line_that_is_not_json(runner, tmp_path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "labels.jsonl").write_text('{"filename": "a.png", "label": "12"}\n{oops\n')
    assert_refused(
        train(runner, tmp_path),
        f"{tmp_path / 'labels.jsonl'}:2: not valid JSON (Expecting property name enclosed in double quotes)",
    )


# ----- folders, permissions, label patterns ----------------------------------------------------


def test_missing_folder(runner, tmp_path) -> None:
    assert_refused(train(runner, tmp_path / "nope"), f"{tmp_path / 'nope'}: no such folder")


def test_folder_without_images(runner, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("no captchas here")
    assert_refused(train(runner, tmp_path), f"{tmp_path}: no images found")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("[", "--label-pattern is not a valid regex (unterminated character set at position 0). Received: '['"),
        (r"(\d+)", r"--label-pattern needs a named group (?P<label>...). Received: '(\\d+)'"),
    ],
)
def test_bad_label_pattern(runner, dataset, pattern, message) -> None:
    assert_refused(train(runner, dataset, "--label-pattern", pattern), message)


def test_unreadable_subfolder_and_file_are_reported_not_dropped(tmp_path, digits_dir) -> None:
    data = tmp_path / "data"
    (data / "locked").mkdir(parents=True)
    for path in sorted(digits_dir.glob("*.png"))[:4]:
        shutil.copy(path, data / path.name)
    shutil.copy(next(digits_dir.glob("*.png")), data / "locked" / "0000-hidden.png")
    shutil.copy(next(digits_dir.glob("*.png")), data / "9999-secret.png")
    os.chmod(data / "locked", 0)
    os.chmod(data / "9999-secret.png", 0)
    try:
        out = unprivileged(["summary", "--data", str(data), "--json"], tmp_path)
    finally:
        os.chmod(data / "locked", 0o755)
        os.chmod(data / "9999-secret.png", 0o644)
    assert out.returncode == 0, out.stderr
    problems = {row["problem"]: row["examples"] for row in json.loads(out.stdout)["problems"]}
    assert problems == {
        "unreadable folder": ["locked (Permission denied)"],
        "unreadable file": ["9999-secret.png (Permission denied)"],
    }


def test_unreadable_folders_given_to_predict_and_train(tmp_path, trained_run) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        predicted = unprivileged(["predict", str(locked), "--model", str(trained_run[0])], tmp_path)
        trained = unprivileged(["train", str(locked), "--arch", "tiny", "--max-steps", "1"], tmp_path)
    finally:
        os.chmod(locked, 0o755)
    assert predicted.returncode == 1 and "Traceback" not in predicted.stderr
    assert predicted.stderr.splitlines()[0] == f"Error: {locked}: cannot list this folder (Permission denied)"
    assert trained.returncode == 2 and "Traceback" not in trained.stderr  # Typer checks DATA is readable
    assert f"Invalid value for 'data': path '{locked}' is not readable." in trained.stderr
    assert not (tmp_path / "runs").exists()


# ----- predict ---------------------------------------------------------------------------------


def test_predict_an_empty_folder_fails(runner, tmp_path, trained_run) -> None:
    result = invoke(runner, "predict", tmp_path, "--model", trained_run[0])
    assert_refused(result, f"{tmp_path}: no images found")
    assert result.stdout == ""


def test_predict_a_folder_with_a_broken_link_reads_the_rest_and_fails(
    runner, tmp_path, trained_run, digits_dir
) -> None:
    shutil.copy(next(digits_dir.glob("*.png")), tmp_path / "good.png")
    _dangling_link(tmp_path)
    result = invoke(runner, "predict", tmp_path, "--model", trained_run[0], "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert first_error(result) == f"Error: {tmp_path / '2222-x.png'}: broken link (its target does not exist)"
    assert [Path(row["path"]).name for row in json.loads(result.stdout)] == ["good.png"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.png", None, "no such file"),
        ("zero.png", b"", "empty file (0 bytes)"),
        ("text.png", b"plain text", "not an image"),
    ],
)
def test_predict_a_bad_file(runner, tmp_path, trained_run, name, content, problem) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    result = invoke(runner, "predict", tmp_path / name, "--model", trained_run[0])
    assert_refused(result, f"{tmp_path / name}: {problem}")


def test_predict_a_glob_that_matches_nothing(runner, tmp_path, trained_run) -> None:
    pattern = str(tmp_path / "*.png")
    assert_refused(
        invoke(runner, "predict", pattern, "--model", trained_run[0]), f"{pattern}: no files match this pattern"
    )


# ----- model files -----------------------------------------------------------------------------


def _model_copy(run: Path, folder: Path, content: bytes | None = None) -> Path:
    """best.keras and its spec copied into the user's folder, with other bytes if given."""
    folder.mkdir(exist_ok=True)
    shutil.copy(run / "best.spec.json", folder / "best.spec.json")
    (folder / "best.keras").write_bytes(content if content is not None else (run / "best.keras").read_bytes())
    return folder / "best.keras"


@pytest.mark.parametrize("kind", ["text", "truncated"])
def test_a_model_file_that_is_not_a_keras_archive(runner, tmp_path, trained_run, digits_dir, kind) -> None:
    whole = (trained_run[0] / "best.keras").read_bytes()
    content = b"<html>404 Not Found</html>" if kind == "text" else whole[: len(whole) // 2]
    path = _model_copy(trained_run[0], tmp_path / "m", content)
    before = snapshot(tmp_path / "m")
    result = invoke(runner, "predict", next(digits_dir.glob("*.png")), "--model", path)
    assert_refused(result, f"{path}: not a .keras model (zip) archive")
    assert snapshot(tmp_path / "m") == before


def test_missing_model_and_folders_without_one(runner, tmp_path, digits_dir) -> None:
    image = next(digits_dir.glob("*.png"))
    assert_refused(
        invoke(runner, "predict", image, "--model", tmp_path / "no.keras"),
        f"{tmp_path / 'no.keras'}: no such model file",
    )
    assert_refused(
        invoke(runner, "predict", image, "--model", tmp_path), f"{tmp_path}: no best.keras or last.keras in this folder"
    )
    (tmp_path / "model.h5").write_bytes(b"x")
    assert_refused(
        invoke(runner, "predict", image, "--model", tmp_path / "model.h5"),
        f"{tmp_path / 'model.h5'}: not a .keras model file",
    )


def test_a_model_with_a_lambda_layer_is_refused_not_run(runner, tmp_path, trained_run, digits_dir) -> None:
    import keras

    inputs = keras.Input((32, 64, 3))
    outputs = keras.layers.Lambda(lambda x: x[:, 0, :4, 0])(inputs)
    folder = tmp_path / "lambda"
    _model_copy(trained_run[0], folder)
    keras.Model(inputs, outputs).save(folder / "best.keras")
    result = invoke(runner, "predict", next(digits_dir.glob("*.png")), "--model", folder / "best.keras")
    assert_refused(
        result,
        f"{folder / 'best.keras'}: refused: the model holds Python code (a Lambda layer), which loading would run",
    )


@pytest.mark.slow
def test_saved_models_load_with_plain_keras_after_importing_captcha_cli(trained_run) -> None:
    """What docs/training.md promises for loading a run's .keras file outside the CLI."""
    code = (
        "import captcha_cli.model.network, keras, sys\n"
        f"model = keras.saving.load_model({str(trained_run[0] / 'best.keras')!r})\n"
        "print(model.name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "captcha_tiny"  # the preset's name


# ----- resume, export, preprocess ----------------------------------------------------------------


def test_resume_of_a_folder_that_is_not_a_run(runner, tmp_path) -> None:
    assert_refused(invoke(runner, "train", "--resume", tmp_path), f"{tmp_path}: not a run folder (no config.json)")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], "damaged run config (not valid JSON: "),
        (lambda text: "[]", "damaged run config (no spec, config, data section)"),
        (lambda text: text.replace('"lstm_units"', '"lstm_unitz"'), "damaged run config (unknown spec fields. "),
    ],
)
def test_resume_with_a_damaged_config(runner, tmp_path, trained_run, damage, message) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run[0], run)
    config = run / "config.json"
    config.write_text(damage(config.read_text()))
    before = snapshot(run)
    result = invoke(runner, "train", "--resume", run)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert first_error(result).startswith(f"Error: {config}: {message}")
    assert snapshot(run) == before


def test_resume_with_another_architecture(runner, trained_run) -> None:
    run = trained_run[0]
    before = snapshot(run)
    result = invoke(runner, "train", "--resume", run, "--arch", "small")
    assert_refused(result, f"cannot resume {run} with --arch small: its model was built with --arch tiny")
    assert snapshot(run) == before


def test_export_onto_an_existing_folder(runner, tmp_path, trained_run) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert_refused(invoke(runner, "export", trained_run[0], "--out", out), f"{out}: already exists")
    assert (out / "mine.txt").read_text() == "keep me"


def test_preprocess_into_its_own_input(runner, dataset) -> None:
    before = snapshot(dataset)
    result = invoke(runner, "preprocess", dataset, dataset / "out")
    assert_refused(result, f"{dataset / 'out'}: output folder is inside the input {dataset}; choose another folder")
    assert snapshot(dataset) == before


# ----- values on the command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "OUT", "--length", "four"], "lengths must look like 4, 4,6 or 4-6. Received: length='four'"),
        (["train", "DATA", "--time", "5x"], "durations look like 90s, 10m, 2h or 1h30m. Received: time='5x'"),
        (["train", "DATA", "--charset", "z-a"], "charset range z-a runs backwards. Received: charset='z-a'"),
        (
            ["train", "DATA", "--charset", "0-9 "],
            "charset may not contain the padding space. Received: charset='0-9 '",
        ),
        (["summary", "--max-length", "0"], "max_length must be a positive integer. Received: max_length=0"),
    ],
)
def test_bad_values_are_one_line_errors(runner, tmp_path, argv, message) -> None:
    argv = [str(tmp_path / a) if a in ("OUT", "DATA") else a for a in argv]
    (tmp_path / "DATA").mkdir()
    (tmp_path / "DATA" / "1234-a.png").write_bytes(png_bytes())
    assert_refused(invoke(runner, *argv), message)
    assert not (tmp_path / "OUT").exists()


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        (["train", "--batch-size", "0"], "'--batch-size' / '-b'", "0"),
        (["predict", "x.png", "--batch-size", "-3"], "'--batch-size' / '-b'", "-3"),
        (["generate", "OUT", "--count", "0"], "'--count' / '-n'", "0"),
        (["predict", "x.png", "--min-confidence", "1.5"], "'--min-confidence'", "1.5"),
        (["train", "--max-steps=0"], "'--max-steps'", "0"),
    ],
)
def test_out_of_range_options_echo_the_value(runner, tmp_path, argv, option, value) -> None:
    result = invoke(runner, *[str(tmp_path / a) if a == "OUT" else a for a in argv])
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = " ".join(line.strip("│ ") for line in result.output.splitlines() if "│" in line)
    assert f"Invalid value for {option}:" in message and message.endswith(f"Received: {value}")
    assert not (tmp_path / "OUT").exists()


def test_labels_longer_than_the_given_width_can_read_name_the_file(runner, tmp_path, digits_dir) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for path in sorted(digits_dir.glob("*.png"))[:4]:
        shutil.copy(path, data / path.name)
    shutil.copy(next(digits_dir.glob("*.png")), data / "1234567890-long.png")
    result = invoke(
        runner, "train", data, "--arch", "small", "--width", "64", "--max-steps", "1", "--project", tmp_path / "runs"
    )
    assert_refused(
        result,
        f"{data / '1234567890-long.png'}: its label '1234567890' has 10 characters, which need at least 19 CTC "
        "time steps; an input 64 pixels wide gives 16",
    )
    assert "leave out --width" in result.stderr
