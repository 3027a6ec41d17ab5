"""benchmarks/outside_sets.py: its held-out split of a set without one, and its command line."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "outside_sets.py"


def _run(script: Path, *args: str) -> subprocess.CompletedProcess:
    """A benchmark script run as a user runs it, with this environment's `captcha` on the PATH."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)


def _module(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # its sibling `machine`
    spec = importlib.util.spec_from_file_location("outside_sets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_by_content_holds_out_the_last_images_by_content_hash(tmp_path, monkeypatch) -> None:
    module = _module(monkeypatch)
    monkeypatch.setattr(module, "SEEDGEN_TEST", 2)
    source = tmp_path / "set"
    source.mkdir()
    for name in ("b-1.webp", "a-2.webp", "d-3.webp", "c-4.webp", ".hidden"):
        (source / name).write_bytes(name.encode())
    names = ["b-1.webp", "a-2.webp", "d-3.webp", "c-4.webp"]
    by_hash = sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    assert by_hash != sorted(by_hash)  # the content order is not the name order here
    train, test = module.split_by_content(source, tmp_path / "split")
    assert sorted(p.name for p in train.iterdir()) == sorted(by_hash[:2])
    assert sorted(p.name for p in test.iterdir()) == sorted(by_hash[2:])
    first = by_hash[2]
    assert (test / first).read_bytes() == first.encode() and (test / first).is_symlink()
    module.split_by_content(source, tmp_path / "split")  # again: the links already there are kept
    assert len(list(test.iterdir())) == 2


def test_help_runs() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--sets" in out.stdout


def test_score_only_writes_the_raw_results(tmp_path, trained_run, digits_dir) -> None:
    """--score-only --out: the trained run scored on the set's test folder, every misread in the file."""
    run, _ = trained_run
    data = tmp_path / "data" / "wp-rsc"
    data.mkdir(parents=True)
    for part in ("train", "test"):
        (data / part).symlink_to(digits_dir, target_is_directory=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "wp-rsc-small-10m").symlink_to(run, target_is_directory=True)
    out = tmp_path / "raw.json"
    options = ["--sets", "wp-rsc", "--data", str(data.parent), "--project", str(project)]
    done = _run(SCRIPT, *options, "--score-only", "--out", str(out))
    assert done.returncode == 0, done.stderr
    raw = json.loads(out.read_text())
    scored = raw["sets"]["wp-rsc"]
    assert scored["images"] == 64 and scored["command"].startswith("captcha train ")
    assert len(scored["errors"]) == round(64 * (1 - scored["full_string"]))
    assert 0 <= scored["best_validation"] <= 1 and scored["steps"] == 24
    assert json.loads(done.stdout.splitlines()[-1]) == raw


def test_score_runs_writes_each_runs_command_and_misreads(tmp_path, trained_run, digits_dir) -> None:
    run, _ = trained_run
    out = tmp_path / "raw.json"
    done = _run(SCRIPT.with_name("score_runs.py"), str(digits_dir), str(run), "--out", str(out))
    assert done.returncode == 0, done.stderr
    scored = json.loads(out.read_text())["runs"][run.name]
    assert scored["command"].startswith("captcha train ") and "--max-steps 24" in scored["command"]
    assert scored["images"] == 64 and len(scored["errors"]) == round(64 * (1 - scored["full_string"]))
