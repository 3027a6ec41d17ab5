"""`captcha train --unlabelled DIR`: the pseudo-labels, the unlabelled stream, the folder's audit,
and runs that train, record their settings and resume exactly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from captcha_cli.data.unlabelled import load_unlabelled
from captcha_cli.errors import DatasetError
from captcha_cli.model.decoding import decode_logits
from captcha_cli.model.modelio import load_model
from captcha_cli.spec import ModelSpec, spec_for_arch
from captcha_cli.training.runs import MetricsLog
from captcha_cli.training.semisupervised import make_pseudo_labeller, unlabelled_count, unlabelled_stream
from tests.helpers import invoke
from tests.test_train import RESUMED_RUN, assert_same_run, whole_and_cut_runs


@pytest.fixture(scope="module")
def unlabelled_dir(tmp_path_factory):
    """24 more captchas of the digits' style, under names that carry no label."""
    from captcha_cli.data.synthetic import generate_folder

    drawn = tmp_path_factory.mktemp("drawn")
    generate_folder(drawn, 24, "simple", "0123456789", (4,), 200, 60, seed=12)
    out = tmp_path_factory.mktemp("unlabelled")
    for i, path in enumerate(sorted(drawn.glob("*.png"))):
        shutil.copy(path, out / f"scraped-{i:03d}.png")
    return out


def _ctc_spec() -> ModelSpec:
    return spec_for_arch("small", charset="0123456789", max_length=4)


def _logits_for_paths(spec: ModelSpec, paths: list[list[int]], rng: np.random.Generator) -> np.ndarray:
    """Logits whose arg-max path at each time step is `paths[i]`, with random other scores."""
    steps, classes = spec.output_steps, spec.num_classes
    logits = rng.normal(0.0, 1.0, (len(paths), steps, classes)).astype(np.float32)
    for i, path in enumerate(paths):
        logits[i, np.arange(steps), path] += 4.0
    return logits.reshape(len(paths), -1)


def test_ctc_pseudo_labels_are_the_best_path_and_its_texts_probability() -> None:
    spec = _ctc_spec()
    steps = spec.output_steps
    blank = [0] * steps
    readable = [3, 3, 0, 4, 0, 4, 2, 0] + [0] * (steps - 8)  # "2 3 3 1": the repeat is split by a blank
    too_long = [1, 0, 2, 0, 3, 0, 4, 0, 5] + [0] * (steps - 9)  # five characters for max length 4
    logits = _logits_for_paths(spec, [readable, blank, too_long], np.random.default_rng(0))
    ids, probability = (np.asarray(t) for t in make_pseudo_labeller(spec)(logits))
    assert ids[0].tolist() == [3, 4, 4, 2]
    expected_ids, _, raw = decode_logits(logits, spec)  # an uncalibrated spec: the raw forward sum
    assert expected_ids[0].tolist() == [3, 4, 4, 2]
    assert probability[0] == pytest.approx(raw[0], rel=1e-4)
    assert 0.0 < probability[0] < 1.0
    assert probability[1] == 0.0 and probability[2] == 0.0  # empty, and longer than a label can be


def test_position_pseudo_labels_take_each_positions_likeliest_class() -> None:
    spec = ModelSpec(arch="tiny", height=32, width=64, charset="0123456789", max_length=4, loss="softmax")
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 1.0, (2, spec.max_length * spec.num_classes)).astype(np.float32)
    ids, probability = (np.asarray(t) for t in make_pseudo_labeller(spec)(logits))
    slots = logits.reshape(2, spec.max_length, spec.num_classes)
    assert ids.tolist() == slots.argmax(axis=-1).tolist()
    softmax = np.exp(slots) / np.exp(slots).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(probability, softmax.max(axis=-1).prod(axis=-1), rtol=1e-5)


def test_bce_models_get_no_pseudo_labels() -> None:
    with pytest.raises(ValueError, match="softmax or ctc"):
        make_pseudo_labeller(ModelSpec(arch="tiny", loss="bce"))


def test_unlabelled_count_keeps_a_place_for_labels() -> None:
    assert [unlabelled_count(64, share) for share in (0.5, 0.01, 0.99)] == [32, 1, 63]


def test_unlabelled_stream_resumes_and_augments_only_the_strong_view() -> None:
    images = np.random.default_rng(2).integers(0, 256, (10, 8, 16, 1), dtype=np.uint8)
    whole = unlabelled_stream(images, 4, seed=3, start_step=0)
    batches = [next(whole) for _ in range(4)]
    resumed = next(unlabelled_stream(images, 4, seed=3, start_step=3))
    for view, again in zip(batches[3], resumed, strict=True):
        np.testing.assert_array_equal(view, again)
    weak, strong = batches[0]
    assert all(any((w == image).all() for image in images) for w in weak)  # the weak views: images as they are
    assert not np.array_equal(weak, strong)
    seen = {bytes(image) for weak, _ in batches[:2] for image in weak}  # two batches of 4: 8 of the 10, none twice
    assert len(seen) == 8


def test_load_unlabelled_leaves_out_labelled_copies_and_repeats(tmp_path, unlabelled_dir, digits_dir) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(unlabelled_dir, folder)
    labelled = sorted(digits_dir.glob("*.png"))[0]
    shutil.copy(labelled, folder / "copy-of-a-labelled-one.png")
    shutil.copy(folder / "scraped-000.png", folder / "scraped-000-again.png")
    from captcha_cli.data.datasets import audit_folder

    digests = [s.digest for s in audit_folder(digits_dir).samples]
    data = load_unlabelled(folder, (32, 64, 3), "none", digests, skip_invalid=False)
    assert (len(data), data.also_labelled, data.duplicates, data.skipped) == (24, 1, 1, [])
    assert data.images.shape == (24, 32, 64, 3) and data.images.dtype == np.uint8


def test_load_unlabelled_names_a_bad_file_or_leaves_it_out(tmp_path, unlabelled_dir) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(unlabelled_dir, folder)
    (folder / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError) as error:
        load_unlabelled(folder, (32, 64, 3), "none", [], skip_invalid=False)
    assert str(folder / "empty.png") in error.value.message and "zero-byte file" in error.value.message
    data = load_unlabelled(folder, (32, 64, 3), "none", [], skip_invalid=True)
    assert len(data) == 24 and [p.path.name for p in data.skipped] == ["empty.png"]


UNLABELLED_RUN = ["--loss", "softmax", "--unlabelled-share", "0.25"]


@pytest.mark.slow
def test_train_with_unlabelled_records_its_settings_and_resumes_exactly(
    runner, tmp_path, digits_dir, unlabelled_dir, monkeypatch
) -> None:
    """A run whose every pseudo-label passes (threshold near 0) crashes at step 5 and resumes to the
    weights, rows and rate of the run that never stopped; config.json and metrics.csv say how
    much of each batch was unlabelled and how much of it was used."""
    extra = [*UNLABELLED_RUN, "--unlabelled", unlabelled_dir, "--unlabelled-threshold", "1e-9"]
    crashed = whole_and_cut_runs(runner, tmp_path, digits_dir, monkeypatch, "crash", *extra)
    assert crashed.exit_code == 1 and "crashed at step 5" in crashed.stderr
    assert invoke(runner, "train", "--resume", tmp_path / "cut").exit_code == 0
    assert_same_run(tmp_path, [2, 4, 6, 8])
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert config["data"]["unlabelled"] == str(unlabelled_dir.resolve())
    assert config["config"]["unlabelled_share"] == 0.25 and config["config"]["unlabelled_threshold"] == 1e-9
    assert config["batch"] == {"data": 6, "generated": 0, "unlabelled": 2} and config["unlabelled_images"] == 24
    rows = MetricsLog(tmp_path / "whole" / "metrics.csv").rows
    assert [row["pseudo_labelled"] for row in rows] == [1.0] * 4


@pytest.mark.slow
def test_the_threshold_decides_what_is_learnt(runner, tmp_path, digits_dir, unlabelled_dir) -> None:
    """The same run with no reading above the threshold learns nothing from the unlabelled images:
    it logs 0% used and ends with other weights than the run that used them all. Its panel states
    the unlabelled images and their share of the batch."""
    base = [*RESUMED_RUN, *UNLABELLED_RUN, "--unlabelled", unlabelled_dir, "--project", tmp_path]
    base.remove("--quiet")
    runs = {}
    for name, threshold in (("used", "1e-9"), ("unused", "0.999999")):
        result = invoke(runner, "train", digits_dir, *base, "--name", name, "--unlabelled-threshold", threshold)
        assert result.exit_code == 0, result.output
        runs[name] = load_model(tmp_path / name / "last.keras")[0].get_weights()
    panel = " ".join(result.stderr.split())  # the panel may wrap its lines
    assert "+ 24 unlabelled" in panel and "Unlabelled: 24 images from" in panel
    assert "6 from the data, not augmented; + 2 unlabelled, pseudo-labelled at >= 0.999999" in panel
    header = next(line for line in result.stderr.splitlines() if "full str" in line)
    assert header.split()[-1] == "pseudo"  # the validation table's column of the share used
    assert [row["pseudo_labelled"] for row in MetricsLog(tmp_path / "unused" / "metrics.csv").rows] == [0.0] * 4
    assert any(not np.allclose(a, b) for a, b in zip(runs["used"], runs["unused"], strict=True))


def test_unlabelled_refuses_bce_and_bad_fractions(runner, tmp_path, digits_dir, unlabelled_dir) -> None:
    base = ["train", digits_dir, *RESUMED_RUN, "--project", tmp_path, "--unlabelled", unlabelled_dir]
    result = invoke(runner, *base, "--loss", "bce")
    assert result.exit_code == 1 and "--unlabelled needs a model with --loss ctc or softmax" in result.stderr
    result = invoke(runner, *base, "--unlabelled-share", "1")
    assert result.exit_code == 2 and "--unlabelled-share" in result.stderr
    result = invoke(runner, *base, "--loss", "softmax", "--unlabelled", tmp_path / "missing")
    assert result.exit_code == 1 and f"{tmp_path / 'missing'}: no such folder" in result.stderr
