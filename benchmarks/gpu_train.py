"""On a CUDA machine: ResNet-34 training images/s at batch 64 in float32 and in mixed precision,
then the wall-clock time to 95% full-string validation accuracy on the `noisy` set, and that
model's accuracy on 1,000 held-out captchas of another seed. Prints a short table, writes JSON.
The time-to-target run trains `--target-arch` (default `small`: the CTC model `captcha train
--arch small` builds; the report's per-position head memorizes 6,400 captchas, see RESULTS.md).

It runs on any Keras 3 backend (`KERAS_BACKEND`): the GPU machines lent here carry JAX, not
TensorFlow, and `captcha train`'s loop is TensorFlow's. So this script trains with Keras's own
`fit` on the tool's parts: the model module (`build_model`), the loss module, Adam at the tool's
1e-3 halved with the tool's factor, patience and floor (0.5, 5 validation rounds, 1e-7), the
tool's batch stream with `--augment`'s augmentation, and the `noisy` style's captchas through the
tool's preprocessing. One difference: the halving watches validation full-string accuracy here,
validation loss in `captcha train`. The data: 8,000 captchas of seed 0 (the first 6,400 train, the last 1,600
validate, like the tool's 20% split) and 1,000 of seed 1, generated on all cores.

Usage: KERAS_BACKEND=jax python benchmarks/gpu_train.py [--batch-size 64] [--steps 60]
       [--repeats 3] [--budget 150] [--arch resnet34] [--target-arch small] [--json FILE]
Refuses to run without a GPU unless --allow-cpu (for checking the script itself on `tiny`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
from generated import captchas

from captcha_cli.charset import DEFAULT_CHARSET
from captcha_cli.data.datasets import Sample
from captcha_cli.data.geometry import spec_for_data
from captcha_cli.model.decoding import accuracy, decode_logits
from captcha_cli.model.losses import make_loss
from captcha_cli.model.network import build_model
from captcha_cli.precision import POLICIES
from captcha_cli.spec import ModelSpec, TrainConfig
from captcha_cli.training.batches import batch_stream

CHUNK = 250  # captchas per generating task
MAX_ROUNDS = 10**5  # more than any budget allows: the time limit ends training


def noisy_captchas(seed: int, count: int, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """`captcha generate --style noisy --seed SEED --count COUNT`'s captchas, preprocessed, as
    (uint8 images, label ids), made in parallel."""
    tasks = [(min(CHUNK, count - start), seed, start, spec.preprocessing) for start in range(0, count, CHUNK)]
    with multiprocessing.get_context("spawn").Pool() as pool:
        parts = pool.starmap(captchas, tasks)
    texts = [t for part_texts, _ in parts for t in part_texts]
    ids = np.array([spec.codec.encode(t) for t in texts], dtype=np.int32)
    return np.concatenate([images for _, images in parts]), ids


def noisy_sets(spec: ModelSpec, count: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`count` captchas of seed 0 to train on and 1,000 held-out ones of seed 1, in `spec`'s preprocessing."""
    start = time.perf_counter()
    sets = noisy_captchas(0, count, spec), noisy_captchas(1, 1000, spec)
    seconds = time.perf_counter() - start
    print(f"{count + 1000} captchas ({spec.preprocessing}) generated in {seconds:.1f} s", flush=True)
    return sets


def preset_spec(arch: str) -> ModelSpec:
    """The spec `captcha train --arch ARCH` builds for the `noisy` set (200x60, up to 6 characters),
    through the tool's own choice of a CTC preset's input size and time steps."""
    noisy = Sample(Path("noisy.png"), "x" * 6, size=(200, 60))
    return spec_for_data(arch, [noisy], charset=DEFAULT_CHARSET, max_length=6)


def lstm_layers(model: keras.Model) -> list[keras.layers.LSTM]:
    """The model's LSTMs, the two directions of each Bidirectional included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            found += [layer.forward_layer, layer.backward_layer]
        elif isinstance(layer, keras.layers.LSTM):
            found.append(layer)
    return found


def compiled_model(spec: ModelSpec, precision: str, learning_rate: float) -> keras.Model:
    """The model module's model under `precision`'s policy, compiled with Adam and the tool's loss
    (Keras adds dynamic loss scaling under float16). JAX's cuDNN LSTM takes float32 only, so under
    mixed precision there the LSTMs run Keras's own loop (a `lax.scan`)."""
    keras.mixed_precision.set_dtype_policy(POLICIES[precision])
    try:
        model = build_model(spec)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    if precision != "float32" and keras.backend.backend() == "jax":
        for lstm in lstm_layers(model):
            lstm.use_cudnn = False
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=make_loss(spec))
    return model


def images_per_second(spec: ModelSpec, images: np.ndarray, ids: np.ndarray, precision: str, args) -> dict:
    """Median images/s of `repeats` timed `fit` calls of `steps` steps each, after a compiling one."""
    model = compiled_model(spec, precision, 1e-3)
    count = args.steps * args.batch_size
    x = np.resize(images, (count, *images.shape[1:])).astype(np.float32) / 255.0
    y = np.resize(ids, (count, ids.shape[1]))
    start = time.perf_counter()
    model.fit(x[: 3 * args.batch_size], y[: 3 * args.batch_size], batch_size=args.batch_size, verbose=0)
    compile_s = time.perf_counter() - start
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=args.batch_size, shuffle=False, verbose=0)
        rates.append(count / (time.perf_counter() - start))
    keras.backend.clear_session()
    loss = history.history["loss"][-1]
    return {"images_per_s": statistics.median(rates), "each": rates, "compile_s": compile_s, "last_loss": loss}


class AugmentedBatches(keras.utils.PyDataset):
    """The tool's seeded, augmented batch stream as a Keras dataset of `steps` batches per epoch,
    made by worker threads; epoch e's batch i is the stream's step e x steps + i."""

    def __init__(self, images: np.ndarray, ids: np.ndarray, batch_size: int, steps: int, workers: int) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=4 * workers)
        self.images, self.ids, self.batch_size, self.steps = images, ids, batch_size, steps
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        step = self.epoch * self.steps + index
        x, y = next(batch_stream(self.images, self.ids, self.batch_size, 0, step, augment=True))
        return x.astype(np.float32) / 255.0, y

    def on_epoch_end(self) -> None:
        self.epoch += 1


def full_string_accuracy(model: keras.Model, images: np.ndarray, ids: np.ndarray, spec: ModelSpec) -> float:
    logits = model.predict(images.astype(np.float32) / 255.0, batch_size=200, verbose=0)
    pred, _, _ = decode_logits(np.asarray(logits, dtype=np.float32), spec)
    return accuracy(pred, ids)[0]


class ValidationRounds(keras.callbacks.Callback):
    """Each epoch (`val_every` steps) ends with a validation round: full-string accuracy into the
    logs, the best weights kept, training stopped at the target or when the budget is spent."""

    def __init__(self, val: tuple[np.ndarray, np.ndarray], spec: ModelSpec, target: float, budget_s: float) -> None:
        super().__init__()
        self.val, self.spec, self.target, self.budget_s = val, spec, target, budget_s
        self.rows: list[dict] = []
        self.best, self.best_weights, self.reached = -1.0, None, None
        self.started = self.first_step_s = 0.0

    def on_train_begin(self, logs=None) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        if not self.first_step_s:
            self.first_step_s = time.perf_counter() - self.started
        if time.perf_counter() - self.started > self.budget_s:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None) -> None:
        acc = full_string_accuracy(self.model, *self.val, self.spec)
        logs["val_full_string_acc"] = acc
        elapsed = time.perf_counter() - self.started
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.rows.append({"epoch": epoch + 1, "elapsed_s": elapsed, "loss": logs["loss"], "acc": acc, "lr": lr})
        print(f"  round {epoch + 1}: {elapsed:6.1f} s  loss {logs['loss']:.3f}  val {acc:.1%}  lr {lr:.2g}", flush=True)
        if acc > self.best:
            self.best, self.best_weights = acc, self.model.get_weights()
        if acc >= self.target and self.reached is None:
            self.reached = {"seconds": elapsed, "round": epoch + 1}
            self.model.stop_training = True


def time_to_accuracy(spec: ModelSpec, data, heldout, precision: str, args) -> dict:
    """Train from scratch until validation full-string accuracy reaches the target or the budget
    ends; the held-out accuracy of the best round's weights."""
    (train_x, train_y), val = data
    config = TrainConfig()
    model = compiled_model(spec, precision, config.learning_rate)
    rounds = ValidationRounds(val, spec, args.target, args.budget)
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_full_string_acc", mode="max", factor=config.lr_factor,
        patience=config.lr_patience, min_lr=config.min_lr, min_delta=0.0,
    )  # fmt: skip
    batches = AugmentedBatches(train_x, train_y, args.batch_size, args.val_every, args.workers)
    model.fit(batches, epochs=MAX_ROUNDS, shuffle=False, callbacks=[rounds, plateau], verbose=0)
    model.set_weights(rounds.best_weights)
    return {
        "precision": precision,
        "target": args.target,
        "reached": rounds.reached,
        "first_step_s": rounds.first_step_s,
        "best_val_full_string_acc": rounds.best,
        "heldout_full_string_acc": full_string_accuracy(model, *heldout, spec),
        "images_seen": len(rounds.rows) * args.val_every * args.batch_size,
        "rounds": rounds.rows,
    }


def device_name() -> str:
    """The first GPU's name as the backend reports it, or CPU."""
    if keras.backend.backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].device_kind if gpus else "CPU"
    gpus = [d for d in keras.distribution.list_devices() if d.lower().startswith("gpu")]
    return gpus[0] if gpus else "CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60, help="steps per timed fit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arch", default="resnet34", help="preset of the images/s runs")
    parser.add_argument("--target-arch", default="small", help="preset of the time-to-target run")
    parser.add_argument("--precisions", default="float32,float16,bfloat16")
    parser.add_argument("--mixed", default="bfloat16", help="precision of the time-to-target run")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds the time-to-target run may take")
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--count", type=int, default=8000, help="noisy captchas of seed 0 (80%% train)")
    parser.add_argument("--workers", type=int, default=max(1, (multiprocessing.cpu_count() or 2) - 2))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    card = device_name()
    if card == "CPU" and not args.allow_cpu:
        sys.exit(f"gpu_train.py: no GPU visible to Keras's {keras.backend.backend()} backend (--allow-cpu runs anyway)")
    spec = preset_spec(args.arch)
    (images, ids), heldout = noisy_sets(spec, args.count)
    rates = {}
    for precision in args.precisions.split(","):
        rates[precision] = images_per_second(spec, images, ids, precision, args)
        print(f"{precision}: {rates[precision]['images_per_s']:.0f} images/s", flush=True)
    target_spec = preset_spec(args.target_arch)
    if target_spec.preprocessing != spec.preprocessing:
        (images, ids), heldout = noisy_sets(target_spec, args.count)
    cut = round(0.8 * len(images))
    data = ((images[:cut], ids[:cut]), (images[cut:], ids[cut:]))
    target = time_to_accuracy(target_spec, data, heldout, args.mixed, args)
    result = {
        "device": card,
        "backend": f"keras {keras.__version__} on {keras.backend.backend()}",
        "python": platform.python_version(),
        "arch": args.arch,
        "target_arch": args.target_arch,
        "target_input": {
            "height": target_spec.height,
            "width": target_spec.width,
            "width_strides": list(target_spec.stage_width_strides),
        },
        "batch_size": args.batch_size,
        "images_per_s": rates,
        "time_to_target": target,
        "command": " ".join(sys.argv),
    }
    print(f"\n{card}, {result['backend']}, {args.arch}, batch {args.batch_size}")
    base = rates.get("float32", {}).get("images_per_s")
    for precision, row in rates.items():
        ratio = f"{row['images_per_s'] / base:.2f}x" if base else ""
        print(f"{precision:9} {row['images_per_s']:9.0f} images/s  {ratio:6} (compile {row['compile_s']:.0f} s)")
    reached = target["reached"]
    when = f"{reached['seconds']:.0f} s (round {reached['round']})" if reached else "not reached"
    print(
        f"time to {args.target:.0%} validation ({args.target_arch}, {args.mixed}, {args.budget:.0f} s budget): {when}; "
        f"best {target['best_val_full_string_acc']:.1%}; held-out {target['heldout_full_string_acc']:.1%}"
    )
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
