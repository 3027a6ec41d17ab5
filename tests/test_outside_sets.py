"""benchmarks/outside_sets.py: its held-out split of a set without one, and its command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "outside_sets.py"


def _module():
    spec = importlib.util.spec_from_file_location("outside_sets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_by_name_holds_out_the_last_images_by_name(tmp_path, monkeypatch) -> None:
    module = _module()
    monkeypatch.setattr(module, "SEEDGEN_TEST", 2)
    source = tmp_path / "set"
    source.mkdir()
    for name in ("b-1.webp", "a-2.webp", "d-3.webp", "c-4.webp", ".hidden"):
        (source / name).write_bytes(name.encode())
    train, test = module.split_by_name(source, tmp_path / "split")
    assert sorted(p.name for p in train.iterdir()) == ["a-2.webp", "b-1.webp"]
    assert sorted(p.name for p in test.iterdir()) == ["c-4.webp", "d-3.webp"]
    assert (test / "c-4.webp").read_bytes() == b"c-4.webp" and (test / "c-4.webp").is_symlink()
    module.split_by_name(source, tmp_path / "split")  # again: the links already there are kept


def test_help_runs() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--sets" in out.stdout
