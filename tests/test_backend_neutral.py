"""The modules benchmarks/gpu_train.py runs on Keras's JAX backend keep TensorFlow out of their imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import captcha_cli

PACKAGE = Path(captcha_cli.__file__).parent
NEUTRAL = [
    "model/network.py",
    "model/kernels.py",
    "model/losses.py",
    "model/decoding.py",
    "training/batches.py",
    "training/freshdata.py",
    "data/synthetic.py",
    "data/preprocessing.py",
]


def module_level_imports(path: Path) -> set[str]:
    """Top-level package names a module imports when it is loaded (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def source_of(module: str) -> str:
    """`captcha_cli.model.network` -> `model/network.py`; a package -> its `__init__.py`."""
    relative = "/".join(module.split(".")[1:])
    return f"{relative}/__init__.py" if (PACKAGE / relative).is_dir() else f"{relative}.py"


def captcha_cli_imports(path: Path) -> set[str]:
    """The package's own modules a module imports at load time."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("captcha_cli."):
            found.add(source_of(node.module))
    return found


@pytest.mark.parametrize("name", NEUTRAL)
def test_neutral_modules_load_without_tensorflow(name: str) -> None:
    seen, todo = set(), [name]
    while todo:  # the module and everything of ours it pulls in
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        assert "tensorflow" not in module_level_imports(PACKAGE / current), f"{current} imports tensorflow"
        todo.extend(captcha_cli_imports(PACKAGE / current))


def test_the_check_sees_a_tensorflow_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import numpy\nfrom tensorflow import keras\n\ndef f():\n    import cv2\n")
    assert module_level_imports(module) == {"numpy", "tensorflow"}
