"""Dataset folders: label sources, the audit, the split, the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captcha_cli.data.datasets import Sample, audit_folder, label_from_name, split
from captcha_cli.data.imagecache import build_cache, load_cache
from captcha_cli.data.labelled import load_labelled
from captcha_cli.data.synthetic import sample
from captcha_cli.errors import DatasetError, ImageError


def write_png(path: Path, seed: int = 0, text: str = "ab12") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sample("simple", seed, 0, "0123456789", (4,))[1].save(path)
    return path


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("abc123-0f3e1d.png", "abc123"),
        ("Ab12_shot.png", "Ab12"),
        ("xY9.png", "xY9"),
        ("a1-b2_c3.png", "a1"),
    ],
)
def test_label_from_name(name, label) -> None:
    assert label_from_name(Path(name)) == label


def test_file_name_labels_recursive(tmp_path) -> None:
    write_png(tmp_path / "a" / "ab12-1.png", 1)
    write_png(tmp_path / "b" / "cd34_2.png", 2)
    write_png(tmp_path / "ef56.png", 3)
    audit = audit_folder(tmp_path)
    assert audit.label_source == "file name"
    assert sorted(s.label for s in audit.samples) == ["ab12", "cd34", "ef56"]


@pytest.mark.parametrize("manifest", ["labels.csv", "labels.tsv", "labels.jsonl"])
def test_manifest_labels(tmp_path, manifest) -> None:
    write_png(tmp_path / "img1.png", 1)
    write_png(tmp_path / "sub" / "img2.png", 2)
    rows = [("img1.png", "Zz99"), ("sub/img2.png", "qq11")]
    if manifest == "labels.jsonl":
        text = "\n".join(json.dumps({"filename": f, "label": label}) for f, label in rows)
    else:
        sep = "\t" if manifest.endswith("tsv") else ","
        text = f"filename{sep}label\n" + "\n".join(f"{f}{sep}{label}" for f, label in rows)
    (tmp_path / manifest).write_text(text)
    audit = audit_folder(tmp_path)
    assert audit.label_source == f"manifest {manifest}"
    assert {s.path.name: s.label for s in audit.samples} == {"img1.png": "Zz99", "img2.png": "qq11"}


def test_manifest_without_columns(tmp_path) -> None:
    write_png(tmp_path / "img1.png")
    (tmp_path / "labels.csv").write_text("file,text\nimg1.png,ab\n")
    with pytest.raises(DatasetError, match="labels.csv: needs the columns filename and label"):
        audit_folder(tmp_path)


def test_label_pattern(tmp_path) -> None:
    write_png(tmp_path / "captcha_0001_[K7pq].png")
    audit = audit_folder(tmp_path, label_pattern=r"\[(?P<label>\w+)\]")
    assert [s.label for s in audit.samples] == ["K7pq"]
    with pytest.raises(DatasetError, match="needs a named group"):
        audit_folder(tmp_path, label_pattern=r"\[(\w+)\]")


def test_audit_finds_every_problem_kind(tmp_path, monkeypatch) -> None:
    write_png(tmp_path / "bad12-a.png", 1)
    (tmp_path / "zero-a.png").write_bytes(b"")
    (tmp_path / "text-a.png").write_bytes(b"plain text")
    data = (write_png(tmp_path / "tmp-a.png", 2)).read_bytes()
    (tmp_path / "tmp-a.png").unlink()
    (tmp_path / "cut12-a.png").write_bytes(data[: len(data) // 2])
    write_png(tmp_path / "-empty.png", 3)
    write_png(tmp_path / "ab!c-x.png", 4)
    write_png(tmp_path / "abcdefg-x.png", 5)
    Image.new("L", (300, 300)).save(tmp_path / "huge-a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    audit = audit_folder(tmp_path, charset="abcdefg0123456789", max_length=6)
    kinds = {p.kind: p.path.name for p in audit.problems}
    assert kinds == {
        "zero-byte file": "zero-a.png",
        "not an image": "text-a.png",
        "truncated image": "cut12-a.png",
        "empty label": "-empty.png",
        "characters outside the charset": "ab!c-x.png",
        "label too long": "abcdefg-x.png",
        "image too large": "huge-a.png",
    }
    assert [s.label for s in audit.samples] == ["bad12"]
    assert audit.images_found == 8


def test_ignore_case(tmp_path) -> None:
    write_png(tmp_path / "AbC1-x.png")
    assert audit_folder(tmp_path, charset="abc1", ignore_case=True).samples[0].label == "abc1"
    assert audit_folder(tmp_path, charset="ABC1", ignore_case=True).samples[0].label == "ABC1"
    assert audit_folder(tmp_path, charset="abc1").problems[0].kind == "characters outside the charset"


def test_empty_and_missing_folders(tmp_path) -> None:
    with pytest.raises(DatasetError, match="no images found"):
        audit_folder(tmp_path)
    with pytest.raises(DatasetError, match="no such folder"):
        audit_folder(tmp_path / "missing")


def _samples(n: int) -> list[Sample]:
    return [Sample(Path(f"{i}.png"), "ab", digest=f"{i:032x}") for i in range(n)]


def test_split_is_deterministic_seeded_and_exact() -> None:
    train, val = split(_samples(100), 0.2, seed=0)
    assert len(val) == 20 and len(train) == 80
    assert split(_samples(100), 0.2, seed=0) == (train, val)
    assert split(_samples(100), 0.2, seed=1)[1] != val
    assert not {s.path for s in train} & {s.path for s in val}


def test_split_keeps_duplicates_together() -> None:
    samples = _samples(50) + [Sample(Path(f"dup{i}.png"), "ab", digest=f"{i:032x}") for i in range(50)]
    train, val = split(samples, 0.2, seed=3)
    assert not {s.digest for s in train} & {s.digest for s in val}


def test_explicit_val_folder_flags_duplicates(tmp_path) -> None:
    write_png(tmp_path / "train" / "ab12-1.png", 1)
    write_png(tmp_path / "train" / "cd34-2.png", 2)
    write_png(tmp_path / "val" / "ab12-copy.png", 1)
    write_png(tmp_path / "val" / "ef56-3.png", 3)
    with pytest.raises(DatasetError) as info:
        load_labelled(tmp_path / "train", None, None, None, False, False, 0.2, 0, tmp_path / "val")
    assert info.value.rows[0]["problem"] == "duplicate across train/validation"
    data = load_labelled(tmp_path / "train", None, None, None, False, True, 0.2, 0, tmp_path / "val")
    assert [s.label for s in data.val] == ["ef56"]
    assert len(data.skipped) == 1


def test_cache_round_trip(tmp_path) -> None:
    for i in range(5):
        write_png(tmp_path / "data" / f"ab{i}0-x.png", i)
    audit = audit_folder(tmp_path / "data")
    cache, failed = build_cache(audit.samples, (30, 100, 3), "opencv", out_dir=tmp_path / "cache")
    assert failed == []
    loaded = load_cache(tmp_path / "cache")
    assert isinstance(loaded.images, np.memmap)
    assert loaded.images.shape == (5, 30, 100, 3)
    assert loaded.labels == [s.label for s in audit.samples]
    assert set(np.unique(loaded.images)) - {0, 255}  # resized after normalization: grays at edges
    assert not (tmp_path / ".cache.tmp").exists()


def test_cache_on_disk_drops_images_that_fail_to_decode(tmp_path, monkeypatch) -> None:
    import captcha_cli.data.imagecache as imagecache

    for i in range(7):
        write_png(tmp_path / "data" / f"ab{i}0-x.png", i)
    audit = audit_folder(tmp_path / "data")
    in_memory, _ = build_cache(audit.samples, (30, 100, 3), "opencv")
    broken = {audit.samples[1].path, audit.samples[4].path}
    decode = imagecache.load_for_model

    def failing(path, *args):
        if path in broken:
            raise ImageError(f"{path}: cannot decode")
        return decode(path, *args)

    monkeypatch.setattr(imagecache, "load_for_model", failing)
    monkeypatch.setattr(imagecache, "KEEP_BLOCK", 2)  # several blocks even for five images
    cache, failed = build_cache(audit.samples, (30, 100, 3), "opencv", out_dir=tmp_path / "cache")
    assert sorted(p.path for p in failed) == sorted(broken)
    loaded = load_cache(tmp_path / "cache")
    kept = [0, 2, 3, 5, 6]
    assert isinstance(loaded.images, np.memmap) and loaded.images.shape == (5, 30, 100, 3)
    np.testing.assert_array_equal(loaded.images, in_memory.images[kept])
    assert loaded.labels == [audit.samples[i].label for i in kept]
    assert sorted(f.name for f in (tmp_path / "cache").iterdir()) == ["cache.json", "images.npy"]
