"""benchmarks/outside_sets.py: its held-out split of a set without one, and its command line."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "outside_sets.py"


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
