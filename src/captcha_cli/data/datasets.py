"""Labelled captcha folders: find images, read labels, audit every file, split train/validation.

No TensorFlow here; `imagecache` turns the audited samples into uint8 arrays.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from captcha_cli.charset import charset_from_labels
from captcha_cli.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MANIFESTS = ("labels.csv", "labels.tsv", "labels.jsonl")

# What to do about each kind of problem, shown in the audit table.
ADVICE = {
    "zero-byte file": "delete or re-download the file",
    "not an image": "remove it from the folder",
    "truncated image": "re-download or delete the file",
    "unreadable file": "check permissions",
    "image too large": "resize it; over PIL's decompression-bomb limit",
    "no label": "name it LABEL-xxx.png, list it in labels.csv, or pass --label-pattern",
    "empty label": "name it LABEL-xxx.png or fix its manifest row",
    "characters outside the charset": "widen --charset, or --ignore-case; a model given to --init or "
    "--resume reads only its own charset: --skip-invalid leaves these out",
    "label too long": "raise --max-length; a model given to --init or --resume keeps its own: "
    "--skip-invalid leaves these out",
    "manifest entry without a file": "fix the manifest or restore the file",
    "duplicate across train/validation": "remove one copy; identical images inflate accuracy",
    "undecodable image": "re-download or delete the file",
    "unreadable folder": "check its permissions",
    "broken link": "fix or remove the link",
    "conflicting labels": "keep one row per file in the manifest",
}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    digest: str = ""
    size: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Problem:
    kind: str
    path: Path
    detail: str = ""


@dataclass
class Audit:
    """The result of checking a dataset folder: usable samples and every problem found."""

    root: Path
    label_source: str
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    images_found: int = 0

    def problem_rows(self) -> list[dict]:
        """One row per kind of problem: count, first examples, what to do."""
        kinds: dict[str, list[Problem]] = {}
        for problem in self.problems:
            kinds.setdefault(problem.kind, []).append(problem)
        return [
            {
                "problem": kind,
                "count": len(items),
                "examples": [self._rel(p.path) + (f" ({p.detail})" if p.detail else "") for p in items[:3]],
                "advice": ADVICE.get(kind, ""),
            }
            for kind, items in kinds.items()
        ]

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def stats(self) -> dict:
        labels = [s.label for s in self.samples]
        chars = Counter("".join(labels))
        sizes = Counter(f"{w}x{h}" for w, h in (s.size for s in self.samples))
        return {
            "root": str(self.root),
            "images": self.images_found,
            "labelled": len(self.samples),
            "label_source": self.label_source,
            "charset": charset_from_labels(labels),
            "char_counts": dict(sorted(chars.items())),
            "lengths": {str(k): v for k, v in sorted(Counter(len(x) for x in labels).items())},
            "image_sizes": dict(sizes.most_common(10)),
            "duplicates": len(self.samples) - len({s.digest for s in self.samples}),
            "problems": self.problem_rows(),
        }


@dataclass
class ImageScan:
    """The image files under a folder, and what could not be looked at (nothing is left out silently)."""

    paths: list[Path]
    problems: list[Problem]


def scan_images(root: Path) -> ImageScan:
    """Every image file under a folder (recursive, sorted, hidden names skipped), plus the folders
    that could not be listed and the links that lead nowhere, as problems."""
    if not root.exists() and not root.is_symlink():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        if root.suffix.lower() not in IMAGE_SUFFIXES:
            return ImageScan([], [])
        problem = _broken_link(root)
        return ImageScan([] if problem else [root], [problem] if problem else [])
    paths: list[Path] = []
    problems: list[Problem] = []

    def unreadable(exc: OSError) -> None:
        problems.append(Problem("unreadable folder", Path(exc.filename), exc.strerror or str(exc)))

    for folder, subfolders, names in os.walk(root, onerror=unreadable):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            problem = _broken_link(path)
            if problem:
                problems.append(problem)
            elif path.is_file():
                paths.append(path)
    if problems and problems[0].kind == "unreadable folder" and problems[0].path == root:
        raise DatasetError(f"{root}: cannot list this folder ({problems[0].detail})", hint="check its permissions")
    return ImageScan(sorted(paths), sorted(problems, key=lambda p: p.path))


def _broken_link(path: Path) -> Problem | None:
    """A symbolic link whose target is missing or which loops back on itself."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        detail = "symlink loop" if exc.errno == errno.ELOOP else "its target does not exist"
        return Problem("broken link", path, detail)
    return None


def refuse_empty(root: Path | str, scan: ImageScan) -> None:
    """A folder search that found no images, and nothing it could not look at, is an error."""
    if not scan.paths and not scan.problems:
        raise DatasetError(
            f"{root}: no images found", hint=f"looked for {', '.join(sorted(IMAGE_SUFFIXES))} recursively"
        )


def find_images(root: Path) -> list[Path]:
    """The image files under a folder; a folder that cannot be listed or a broken link is an error."""
    scan = scan_images(root)
    if scan.problems:
        raise DatasetError(describe_problems(scan.problems), hint=ADVICE[scan.problems[0].kind])
    return scan.paths


def describe_problems(problems: list[Problem]) -> str:
    """The first problem as one line, `PATH: kind (detail) (and 2 more)`."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{first.path}: {first.kind}" + (f" ({first.detail})" if first.detail else "") + more


def label_from_name(path: Path) -> str:
    """`LABEL-anything.ext`, `LABEL_anything.ext` or `LABEL.ext` -> LABEL."""
    stem = path.stem
    for sep in ("-", "_"):
        if sep in stem:
            return stem.split(sep, 1)[0]
    return stem


@dataclass
class Manifest:
    """The labels a manifest file gives, by file name relative to its folder."""

    name: str
    labels: dict[str, str]
    conflicts: dict[str, str]  # file name -> the differing labels and their line numbers


def read_manifest(root: Path) -> Manifest | None:
    """Labels from `labels.csv`, `labels.tsv` or `labels.jsonl` (keys filename, label), if present."""
    for name in MANIFESTS:
        path = root / name
        if path.is_file():
            return Manifest(name, *_manifest_labels(path, _manifest_rows(path)))
    return None


def _manifest_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) for every row of a manifest; a file that cannot be read names itself."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            hint="save it as UTF-8",
        ) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{number}: each line must be a JSON object with filename and label")
                rows.append((number, row))
        return rows
    reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix == ".tsv" else ",")
    try:
        return [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _manifest_labels(path: Path, rows: list[tuple[int, dict]]) -> tuple[dict[str, str], dict[str, str]]:
    """Labels by file name, and the files listed twice with different labels."""
    if rows and not {"filename", "label"} <= set(rows[0][1]):
        raise DatasetError(
            f"{path}: needs the columns filename and label", hint=f"found columns: {', '.join(map(str, rows[0][1]))}"
        )
    labels: dict[str, str] = {}
    lines: dict[str, int] = {}
    conflicts: dict[str, str] = {}
    for number, row in rows:
        filename = str(row.get("filename") or "").strip()
        label = str(row.get("label") if row.get("label") is not None else "").strip()
        if filename in labels and labels[filename] != label:
            conflicts[filename] = f"{path.name} line {lines[filename]}: {labels[filename]!r}, line {number}: {label!r}"
        labels.setdefault(filename, label)
        lines.setdefault(filename, number)
    return labels, conflicts


# The end-of-stream markers of the common formats: a file cut short lacks them. Other formats
# are decoded in full to find truncation.
TRAILERS = {"PNG": b"IEND\xaeB`\x82", "JPEG": b"\xff\xd9", "GIF": b";"}


def _inspect(path: Path) -> tuple[str, tuple[int, int], Problem | None]:
    """Hash the bytes, read the header and check the image is complete; (digest, size, problem).

    PNG, JPEG and GIF are checked by their end-of-stream marker (fast: no pixel decoding); other
    formats are decoded in full.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return "", (0, 0), Problem("unreadable file", path, exc.strerror or str(exc))
    if not data:
        return "", (0, 0), Problem("zero-byte file", path)
    digest = hashlib.md5(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                size = image.size
                trailer = TRAILERS.get(image.format or "")
                if trailer is None:
                    image.load()
                elif trailer not in data[-64:].rstrip(b"\x00\r\n"):
                    return (
                        digest,
                        size,
                        Problem("truncated image", path, f"{image.format} end marker missing"),
                    )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return digest, (0, 0), Problem("image too large", path)
    except UnidentifiedImageError:
        return digest, (0, 0), Problem("not an image", path)
    except (OSError, SyntaxError, ValueError) as exc:
        return digest, (0, 0), Problem("truncated image", path, str(exc)[:60])
    return digest, size, None


def _inspect_all(paths: list[Path]) -> list[tuple[str, tuple[int, int], Problem | None]]:
    return [_inspect(path) for path in paths]


def _inspect_parallel(paths: list[Path], workers: int) -> list[tuple[str, tuple[int, int], Problem | None]]:
    chunks = [paths[i : i + 512] for i in range(0, len(paths), 512)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [item for chunk in pool.map(_inspect_all, chunks) for item in chunk]


def audit_unlabelled(root: Path, workers: int = 2) -> Audit:
    """Check every image of a folder of captchas without labels, as `audit_folder` checks a
    labelled one; the samples carry an empty label."""
    scan = scan_images(root)
    refuse_empty(root, scan)
    audit = Audit(root=root if root.is_dir() else root.parent, label_source="none", images_found=len(scan.paths))
    audit.problems.extend(scan.problems)
    for path, (digest, size, problem) in zip(scan.paths, _inspect_parallel(scan.paths, workers), strict=True):
        if problem:
            audit.problems.append(problem)
        else:
            audit.samples.append(Sample(path, "", digest, size))
    return audit


def audit_folder(
    root: Path,
    charset: str | None = None,
    max_length: int | None = None,
    label_pattern: str | None = None,
    ignore_case: bool = False,
    workers: int = 2,
) -> Audit:
    """Read labels and check every image of a folder; nothing is dropped silently.

    Args:
        root: the dataset folder (searched recursively).
        charset: the characters labels may use; None accepts any but the padding space (the
            charset of a new model is then inferred from the labels).
        max_length: the longest label allowed; None for no limit.
        label_pattern: a regex with a named group `label`, searched in each file name.
        ignore_case: fold labels to the case of the charset (lower if it has both or neither).
        workers: threads hashing and decoding files.
    """
    scan = scan_images(root)
    refuse_empty(root, scan)
    paths = scan.paths
    base = root if root.is_dir() else root.parent
    manifest = None if label_pattern else read_manifest(base)
    pattern = _compile_pattern(label_pattern) if label_pattern else None
    source = f"manifest {manifest.name}" if manifest else f"pattern {label_pattern}" if pattern else "file name"
    audit = Audit(root=base, label_source=source, images_found=len(paths))
    audit.problems.extend(scan.problems)
    labels: dict[Path, str | None] = {}
    for path in paths:
        if manifest:
            labels[path] = manifest.labels.get(path.relative_to(base).as_posix())
        elif pattern:
            match = pattern.search(path.name)
            labels[path] = match.group("label") if match else None
        else:
            labels[path] = label_from_name(path)
    if manifest:
        known = {p.relative_to(base).as_posix() for p in paths}
        for missing in sorted(set(manifest.labels) - known):
            audit.problems.append(Problem("manifest entry without a file", base / missing))
    fold = _case_folder(charset) if ignore_case else None
    for path, (digest, size, problem) in zip(paths, _inspect_parallel(paths, workers), strict=True):
        if problem:
            audit.problems.append(problem)
            continue
        label = labels[path]
        conflict = manifest.conflicts.get(path.relative_to(base).as_posix()) if manifest else None
        if conflict:
            audit.problems.append(Problem("conflicting labels", path, conflict))
            continue
        if label is None:
            audit.problems.append(Problem("no label", path))
            continue
        if fold:
            label = fold(label)
        reason = _label_problem(label, charset, max_length)
        if reason:
            audit.problems.append(Problem(reason[0], path, reason[1]))
            continue
        audit.samples.append(Sample(path, label, digest, size))
    return audit


def _label_problem(label: str, charset: str | None, max_length: int | None) -> tuple[str, str] | None:
    if not label:
        return ("empty label", "")
    if max_length is not None and len(label) > max_length:
        return ("label too long", f"{label!r} has {len(label)} > {max_length}")
    allowed = set(charset) if charset else None
    unknown = sorted({c for c in label if c == " " or (allowed is not None and c not in allowed)})
    if unknown:
        return ("characters outside the charset", f"{label!r}: {''.join(unknown)!r}")
    return None


def _case_folder(charset: str | None):
    if charset and any(c.isupper() for c in charset) and not any(c.islower() for c in charset):
        return str.upper
    return str.lower


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise DatasetError(f"--label-pattern is not a valid regex ({exc}). Received: {pattern!r}") from None
    if "label" not in compiled.groupindex:
        raise DatasetError(f"--label-pattern needs a named group (?P<label>...). Received: {pattern!r}")
    return compiled


def split(samples: Iterable[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """A deterministic, seeded train/validation split by image content: identical images always
    land on the same side, so duplicates never leak from training into validation."""
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"validation fraction must be in (0, 1). Received: val_split={val_fraction}")
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.digest or str(sample.path), []).append(sample)
    keyed = sorted(groups, key=lambda d: hashlib.sha256(f"{seed}:{d}".encode()).hexdigest())
    total = sum(len(v) for v in groups.values())
    target = round(total * val_fraction)
    val: list[Sample] = []
    train: list[Sample] = []
    for digest in keyed:
        (val if len(val) < target else train).extend(groups[digest])
    if not train or not val:
        raise DatasetError(f"too few images to split ({total}); need at least 2", hint="add images or pass --val DIR")
    return sorted(train, key=lambda s: s.path), sorted(val, key=lambda s: s.path)


def cross_duplicates(train: list[Sample], val: list[Sample]) -> list[Problem]:
    """Validation images whose exact bytes also appear in the training set."""
    seen = {s.digest for s in train}
    return [Problem("duplicate across train/validation", s.path) for s in val if s.digest in seen]
