"""The `train` workflow: a run folder, the data and the model, then `Model.fit` with the callbacks
of `training.callbacks` (validation rounds, the adaptive learning rate, rotating checkpoints,
best/last models, metrics, curves), resume and clean interruption."""

from __future__ import annotations

import dataclasses
import math
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from captcha_cli import __version__
from captcha_cli.charset import Codec, parse_charset
from captcha_cli.data.datasets import Sample, split
from captcha_cli.data.geometry import spec_for_data
from captcha_cli.data.imagecache import ImageCache, build_cache, is_cache, load_cache
from captcha_cli.data.labelled import load_labelled
from captcha_cli.data.preprocessing import resolve_backend, scale
from captcha_cli.data.synthetic import generate_folder, parse_lengths
from captcha_cli.data.unlabelled import UnlabelledData, load_unlabelled
from captcha_cli.errors import SpecError, TrainingError
from captcha_cli.model.calibration import fit_calibration
from captcha_cli.model.decoding import accuracy, decode_logits
from captcha_cli.model.losses import make_confidence_penalty, make_loss, make_sample_loss
from captcha_cli.model.modelio import resolve_model_path, save_model
from captcha_cli.model.network import build_model
from captcha_cli.model.optimizers import FusedAdam
from captcha_cli.precision import apply_precision, detect_precision
from captcha_cli.reporting import Reporter, RunEnded, RunStarted
from captcha_cli.spec import ModelSpec, TrainConfig, load_spec, preset_preprocessing
from captcha_cli.training.adaptive_lr import create_callbacks, learning_rate
from captcha_cli.training.annealing import BudgetAnneal
from captcha_cli.training.averaging import WeightAverage
from captcha_cli.training.batches import batch_stream
from captcha_cli.training.callbacks import (
    RoundLog,
    RunControl,
    RunState,
    StepCheckpoints,
    ValidationRounds,
    round_counts,
    run_callbacks,
)
from captcha_cli.training.distribute import check_batch, is_chief, make_strategy
from captcha_cli.training.fit_model import PseudoLabelling, TrainingModel
from captcha_cli.training.freshdata import FreshCaptchas, mixed_count
from captcha_cli.training.request import DataOptions, TrainRequest
from captcha_cli.training.runs import Checkpoints, MetricsLog, format_duration, next_run_dir, read_config, write_config
from captcha_cli.training.semisupervised import joined_stream, make_pseudo_labeller, unlabelled_count, unlabelled_stream
from captcha_cli.training.tf_input import training_dataset


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    stop_reason: str
    best_full_string_acc: float
    last: dict[str, Any]
    interrupted: bool = False


class StopFlag:
    """Set by SIGINT (Ctrl-C) or a test; the loop stops cleanly after the current step."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str = "interrupted") -> None:
        self.reason = reason

    def install(self) -> Callable[[], None]:
        """Catch SIGINT while training (main thread only); returns the restore function."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame) -> None:
            if self.reason == "interrupted":  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.set("interrupted")

        signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)


def synthetic_folder(project: Path, options: DataOptions, seed: int, reporter: Reporter) -> Path:
    """Generate (once) the synthetic set used when no data folder is given."""
    name = f"synthetic-{options.synthetic_style}-{options.synthetic_count}-seed{seed}"
    folder = project / name
    marker = folder / ".complete"
    if marker.is_file():
        return folder
    reporter.info(
        f"No data given: generating {options.synthetic_count:,} {options.synthetic_style} captchas into {folder}"
    )
    with reporter.progress("Generating", options.synthetic_count) as bar:
        generate_folder(
            folder,
            options.synthetic_count,
            options.synthetic_style,
            parse_charset(options.synthetic_charset),
            parse_lengths(options.synthetic_length),
            200,
            60,
            seed,
            bar.advance,
        )
    marker.write_text("ok\n")
    return folder


def _saved_run(run_dir: Path, saved: dict[str, Any]) -> tuple[ModelSpec, TrainConfig]:
    """The model spec and training config a run folder's config.json records."""
    try:
        spec = ModelSpec.from_dict(saved["spec"])
        config = TrainConfig(**saved["config"])
        DataOptions(**saved["data"])
    except (SpecError, TypeError, ValueError) as exc:
        reason = exc.message if isinstance(exc, SpecError) else str(exc)
        raise TrainingError(
            f"{run_dir / 'config.json'}: damaged run config ({reason})", hint="restore it, or start a new run"
        ) from None
    return spec, config


def _resolve_spec(
    request: TrainRequest, samples: list[Sample], backend: str, cache_shape: tuple[int, ...] | None = None
) -> ModelSpec:
    charset = None if request.charset in (None, "auto") else parse_charset(request.charset)
    overrides = {**request.spec_overrides, "preprocessing": backend}
    return spec_for_data(request.arch, samples, charset, request.max_length, overrides, cache_shape)


def _chosen_backend(request: TrainRequest) -> str:
    """--backend when given, else the preset's (`small`: none), else the report's (`auto`)."""
    given = request.spec_overrides.get("preprocessing")
    return given or preset_preprocessing(request.arch) or resolve_backend("auto")


def _encode(labels: list[str], codec: Codec) -> np.ndarray:
    return np.array([codec.encode(label) for label in labels], dtype=np.int32)


def _split_cache(cache: ImageCache, config: TrainConfig) -> tuple[ImageCache, ImageCache]:
    train_s, val_s = split(cache.samples(), config.val_split, config.seed)
    index = {p: i for i, p in enumerate(cache.paths)}
    return (
        cache.subset([index[str(s.path)] for s in train_s]),
        cache.subset([index[str(s.path)] for s in val_s]),
    )


BATCH_PARTS = ("data", "generated", "unlabelled")


def batch_parts(config: TrainConfig, unlabelled: bool) -> tuple[int, int, int]:
    """How a training batch divides: (from the labelled data, freshly generated, unlabelled)."""
    unlabelled_places = unlabelled_count(config.batch_size, config.unlabelled_share) if unlabelled else 0
    labelled = config.batch_size - unlabelled_places
    fresh = mixed_count(labelled, config.synthetic_mix)
    return labelled - fresh, fresh, unlabelled_places


def batch_makeup(config: TrainConfig, style: str, unlabelled: bool = False) -> str:
    """One line on what a training batch holds: `48 from the data + 16 generated noisy, augmented`."""
    data, fresh, unlabelled_places = batch_parts(config, unlabelled)
    text = f"{data} from the data" + (f" + {fresh} generated {style}" if fresh else "")
    text += ", augmented" if config.augment else ", not augmented"
    if unlabelled_places:
        text += f"; + {unlabelled_places} unlabelled, pseudo-labelled at >= {config.unlabelled_threshold:g}"
    return text


def make_optimizer(config: TrainConfig, precision: str, variables: list) -> keras.optimizers.Optimizer:
    """Adam (fused update) at the configured initial rate, built for `variables`. With
    `--weight-decay` the kernels (not biases, BatchNorm scales or other 1-D weights) shrink by
    `learning rate x decay` each step, decoupled from the gradient (AdamW). float16 gets dynamic
    loss scaling."""
    optimizer = FusedAdam(learning_rate=config.learning_rate, weight_decay=config.weight_decay or None)
    optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) < 2])
    if precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(variables)  # outside tf.function: traces twice as fast
    return optimizer


class Trainer:
    """One training run: owns the model, optimizer, data stream, callbacks and run folder."""

    def __init__(self, request: TrainRequest, reporter: Reporter, stop: StopFlag) -> None:
        self.request = request
        self.reporter = reporter
        self.stop = stop
        # first of all: a multi-worker strategy must exist before any other TensorFlow op
        self.strategy = make_strategy(request.config.strategy)
        self.chief = is_chief(self.strategy)

    # ----- set-up -------------------------------------------------------------------------
    def prepare(self) -> None:
        request = self.request
        saved = read_config(request.resume) if request.resume else None
        if self.chief:
            self.run_dir = request.resume or next_run_dir(request.project, request.name)
        else:  # other workers train in step but write into a scratch folder
            self.run_dir = Path(tempfile.mkdtemp(prefix="captcha-worker-"))
        self.config = request.config
        if request.init and request.resume:
            raise TrainingError("--init starts a new run from a model; --resume continues a run: pass one")
        self.init_path = resolve_model_path(request.init) if request.init else None
        # a model started from is calibrated again when this run ends
        fixed_spec = dataclasses.replace(load_spec(self.init_path), calibration=()) if self.init_path else None
        if fixed_spec:
            self._check_fixed_spec(fixed_spec, f"cannot start from {self.init_path}")
        if saved:
            fixed_spec, saved_config = _saved_run(request.resume, saved)
            self._check_fixed_spec(fixed_spec, f"cannot resume {request.resume}")
            given = request.max_steps_given
            time_given = request.config.time_budget_s is not None
            self.config = dataclasses.replace(
                saved_config,
                time_budget_s=request.config.time_budget_s if time_given else saved["config"].get("time_budget_s"),
                max_steps=request.config.max_steps if given else saved["config"]["max_steps"],
            )
            saved["config"] = dataclasses.asdict(self.config)  # budgets given now hold for the next resume
        data = request.data
        if saved:
            stored = {k: (Path(v) if k in ("data", "val", "unlabelled") and v else v) for k, v in saved["data"].items()}
            data = DataOptions(**stored)
        source = data.data or synthetic_folder(request.project, data, self.config.seed, self.reporter)
        self.precision = detect_precision(self.config.precision)
        self.train_data, self.val_data, self.spec = self._load(source, data, fixed_spec)
        self.unlabelled = self._load_unlabelled(data) if data.unlabelled else None
        self.codec = self.spec.codec
        self.train_ids = _encode(self.train_data.labels, self.codec)
        self.val_ids = _encode(self.val_data.labels, self.codec)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # folders as absolute paths: resume and calibrate may run from another working folder
        stored_data = {k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(data).items()}
        stored_data["data"] = str(source.resolve())
        self.saved_config = saved or {
            "version": __version__,
            "command": request.command,
            "spec": self.spec.to_dict(),
            "config": dataclasses.asdict(self.config),
            "data": stored_data,
            "precision": self.precision,
            "init": str(self.init_path) if self.init_path else None,
            "batch": dict(zip(BATCH_PARTS, batch_parts(self.config, self.unlabelled is not None), strict=True)),
            "unlabelled_images": len(self.unlabelled) if self.unlabelled else 0,
        }
        write_config(self.run_dir, self.saved_config)
        spec = self.spec
        self.reporter.event(
            RunStarted(
                run_dir=str(self.run_dir),
                data=str(source),
                train=len(self.train_data),
                val=len(self.val_data),
                unlabelled=len(self.unlabelled) if self.unlabelled else 0,
                charset=spec.charset,
                max_length=spec.max_length,
                arch=spec.arch,
                loss=spec.loss,
                preprocessing=spec.preprocessing,
                input=f"{spec.width}x{spec.height}"
                + (f", {spec.output_steps} CTC time steps" if spec.loss == "ctc" else ""),
                precision=self.precision,
                batch_size=self.config.batch_size,
                batch_makeup=batch_makeup(self.config, data.synthetic_style, self.unlabelled is not None),
                weight_decay=self.config.weight_decay,
                ema=self.config.ema,
                confidence_penalty=self.config.confidence_penalty,
                resumed=bool(saved),
                init=self.saved_config.get("init"),
            )
        )

    def _load(
        self, source: Path, data: DataOptions, fixed_spec: ModelSpec | None
    ) -> tuple[ImageCache, ImageCache, ModelSpec]:
        """Audit and preprocess the data (or open a cache); resolve the spec from its labels, unless
        a resumed run or an --init model fixes it."""
        request = self.request
        if is_cache(source):
            cache = load_cache(source)
            given = request.spec_overrides.get("preprocessing")
            spec = fixed_spec or _resolve_spec(request, cache.samples(), given or cache.backend, cache.shape)
            if cache.backend != spec.preprocessing:
                whose = "the model with" if fixed_spec else "training asks for"
                raise TrainingError(
                    f"{source}: cache images were preprocessed with --backend {cache.backend}, "
                    f"{whose} --backend {spec.preprocessing}",
                    hint=f"rebuild it with `captcha preprocess DATA --cache DIR --backend {spec.preprocessing}`",
                )
            measured = preset_preprocessing(request.arch)
            if not (fixed_spec or given) and measured and cache.backend != measured:
                self.reporter.info(
                    f"{source} was preprocessed with --backend {cache.backend}; the {request.arch} preset "
                    f"reads far better trained on --backend {measured} (benchmarks/RESULTS.md)"
                )
            if cache.shape != spec.input_shape:
                raise TrainingError(
                    f"{source}: cache images are {cache.shape}, the model needs {spec.input_shape}",
                    hint="rebuild the cache with --height/--width",
                )
            train, val = _split_cache(cache, self.config)
            return train, val, spec
        if fixed_spec:
            charset, max_length = fixed_spec.charset, fixed_spec.max_length
        else:
            charset = None if request.charset in (None, "auto") else parse_charset(request.charset)
            max_length = request.max_length
        labelled = load_labelled(
            source,
            charset,
            max_length,
            data.label_pattern,
            data.ignore_case,
            data.skip_invalid,
            self.config.val_split,
            self.config.seed,
            data.val,
        )
        if labelled.skipped:
            rows = labelled.audit.problem_rows()
            self.reporter.info(
                f"Left out {len(labelled.skipped):,} invalid files (--skip-invalid): "
                + ", ".join(f"{row['problem']}: {row['count']}" for row in rows)
            )
        labels = [s.label for s in labelled.train + labelled.val]
        spec = fixed_spec or _resolve_spec(request, labelled.train + labelled.val, _chosen_backend(request))
        with self.reporter.progress("Preprocessing", len(labels)) as bar:
            train, bad_train = build_cache(labelled.train, spec.input_shape, spec.preprocessing, bar.advance)
            val, bad_val = build_cache(labelled.val, spec.input_shape, spec.preprocessing, bar.advance)
        bad = bad_train + bad_val
        if bad and not data.skip_invalid:
            raise TrainingError(bad[0].detail, hint="fix the file, or pass --skip-invalid")
        if bad:
            self.reporter.info(f"Left out {len(bad):,} more files that failed to decode.")
        return train, val, spec

    def _load_unlabelled(self, data: DataOptions) -> UnlabelledData:
        """The --unlabelled folder, audited and preprocessed like the labelled data, without the
        images the labelled data also holds."""
        if self.spec.loss == "bce":
            raise TrainingError(
                "--unlabelled needs a model with --loss ctc or softmax: the original's BCE outputs give no one reading"
            )
        digests = self.train_data.digests + self.val_data.digests
        with self.reporter.progress("Preprocessing unlabelled", None) as bar:
            unlabelled = load_unlabelled(
                data.unlabelled, self.spec.input_shape, self.spec.preprocessing, digests, data.skip_invalid, bar.advance
            )
        left_out = {
            "also in the labelled data": unlabelled.also_labelled,
            "repeats within the folder": unlabelled.duplicates,
            "invalid (--skip-invalid)": len(unlabelled.skipped),
        }
        note = ", ".join(f"{count:,} {why}" for why, count in left_out.items() if count)
        self.reporter.info(
            f"Unlabelled: {len(unlabelled):,} images from {data.unlabelled}" + (f"; left out {note}" if note else "")
        )
        return unlabelled

    def _check_fixed_spec(self, spec: ModelSpec, refusal: str) -> None:
        """A resumed run or an --init model fixes the model: options that ask for another one fail."""
        request = self.request
        overrides = request.spec_overrides
        asked = {  # option: (its spec attribute, the value asked for)
            "--arch": ("arch", request.arch if request.arch_given else None),
            "--charset": ("charset", None if request.charset in (None, "auto") else parse_charset(request.charset)),
            "--max-length": ("max_length", request.max_length),
            "--height": ("height", overrides.get("height")),
            "--width": ("width", overrides.get("width")),
            "--loss": ("loss", overrides.get("loss")),
            "--dropout": ("dropout", overrides.get("dropout")),
            "--backend": ("preprocessing", overrides.get("preprocessing")),
        }
        for option, (attribute, value) in asked.items():
            built = getattr(spec, attribute)
            if value is not None and value != built:
                show = repr if option == "--charset" else str
                raise TrainingError(
                    f"{refusal} with {option} {show(value)}: its model was built with {option} {show(built)}",
                    hint=f"drop {option}, or train a new model without --init/--resume",
                )

    def build(self) -> None:
        strategy = self.strategy
        check_batch(self.config.batch_size, strategy)
        apply_precision(self.precision)
        keras.utils.set_random_seed(self.config.seed)  # the initial weights and dropout masks follow --seed
        try:
            with strategy.scope():
                self.model = build_model(self.spec)
                optimizer = make_optimizer(self.config, self.precision, self.model.trainable_variables)
                # --unlabelled's teacher holds the --ema average (built last: the model's weights stay as seeded)
                teacher = build_model(self.spec) if self.unlabelled is not None and self.config.ema else None
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        self.optimizer = optimizer
        if strategy.num_replicas_in_sync > 1:
            self.reporter.info(
                f"{type(strategy).__name__} over {strategy.num_replicas_in_sync} replicas: global batch "
                f"{self.config.batch_size}, {self.config.batch_size // strategy.num_replicas_in_sync} per replica; "
                f"learning rate {self.config.learning_rate:g} (not scaled with the replica count)"
            )
        self.loss_fn = make_loss(self.spec)
        self.anneal = BudgetAnneal(self.config.anneal)
        self.state = RunState()
        self.adaptive = next(iter(create_callbacks(self.config, self.reporter)), None)
        if self.adaptive is not None:
            self.adaptive.counts = round_counts(self.state, self.config, self.anneal)
        self.checkpoints = Checkpoints(self.run_dir / "checkpoints", self.config.keep)
        self.metrics = MetricsLog(self.run_dir / "metrics.csv")
        latest = Checkpoints.latest_in(self.request.resume / "checkpoints") if self.request.resume else None
        if self.init_path:
            self._load_init_weights()
        if latest:
            self._restore(latest.path)
        elif self.request.resume:
            self.metrics.keep_until(0)
            self.reporter.info(f"{self.run_dir} has no checkpoint yet: starting from step 0.")
        self.average = self._start_average(latest.path if latest else None, teacher)
        penalty = self.config.confidence_penalty
        pseudo = None
        if self.unlabelled is not None:
            pseudo = PseudoLabelling(
                teacher or self.model,
                make_pseudo_labeller(self.spec),
                make_sample_loss(self.spec),
                self.config.unlabelled_threshold,
            )
        with strategy.scope():
            self.training_model = TrainingModel(
                self.model,
                self.loss_fn,
                make_confidence_penalty(self.spec, penalty) if penalty else None,
                self.average,
                pseudo,
            )
            self.training_model.compile(optimizer=optimizer, jit_compile=False)

    def _restore(self, checkpoint: Path) -> None:
        """Weights, optimizer, averages' step and loop state from a step checkpoint."""
        saved = Checkpoints.load(checkpoint, self.model, self.optimizer)
        state = self.state
        state.step, state.best, state.elapsed_before = saved["step"], saved["best"], saved.get("elapsed_s", 0.0)
        if self.adaptive is not None:
            self.adaptive.restore(saved["plateau"])
        self.anneal.start_lr = saved.get("anneal_start_lr")
        self.metrics.keep_until(state.step)
        self.state.last_row = self.metrics.rows[-1] if self.metrics.rows else {}
        budget = self.config.time_budget_s
        trained = ""
        if budget:
            trained = f"; {format_duration(state.elapsed_before)} trained of its {format_duration(budget)}"
        rate = learning_rate(self.optimizer)
        self.reporter.info(f"Resumed {self.run_dir} at step {state.step:,} (learning rate {rate:.6g}{trained}).")

    def _load_init_weights(self) -> None:
        """Start from the --init model's weights (the optimizer starts fresh)."""
        try:
            self.model.load_weights(self.init_path)
        except Exception as exc:  # Keras raises many kinds for a damaged or mismatched archive
            raise TrainingError(f"{self.init_path}: cannot load its weights ({type(exc).__name__}: {exc})") from exc
        self.reporter.info(f"Starting from the weights of {self.init_path}.")

    def _start_average(self, checkpoint: Path | None, shadow: keras.Model | None) -> WeightAverage | None:
        """The --ema average: a copy of the starting weights (in `shadow`'s, when given), or the one
        a resumed checkpoint holds."""
        if not self.config.ema:
            return None
        with self.strategy.scope():
            average = WeightAverage(self.model, self.config.ema, shadow)
        values = Checkpoints.saved_averages(checkpoint) if checkpoint else None
        if values is not None:
            try:
                average.restore(values)
            except ValueError as exc:
                raise TrainingError(f"{checkpoint}: its weight averages do not match this model ({exc})") from exc
        return average

    def averaged(self) -> AbstractContextManager:
        """A block in which the model holds what validation scores and the saved models keep: the
        --ema average of its weights, or its own weights without --ema."""
        return self.average.applied() if self.average is not None else nullcontext()

    # ----- the loop -----------------------------------------------------------------------
    def validate(self) -> tuple[dict[str, float], ModelSpec]:
        """Scores on the validation split (of the averaged weights), and the spec with the
        confidence map fitted to it (what a model saved now should carry)."""
        with self.averaged():
            x = scale(self.val_data.images)
            logits = np.asarray(self.model.predict(x, batch_size=max(self.config.batch_size, 64), verbose=0))
        logits = logits.astype(np.float32)
        pred, _, raw_confidence = decode_logits(logits, self.spec)
        full, chars = accuracy(pred, self.val_ids)
        correct = np.all(pred == self.val_ids, axis=1)
        calibrated = dataclasses.replace(self.spec, calibration=fit_calibration(raw_confidence, correct))
        metrics = {
            "val_loss": float(self.loss_fn(tf.constant(self.val_ids), tf.constant(logits))),
            "full_string_acc": full,
            "char_acc": chars,
        }
        return metrics, calibrated

    def save_best(self, spec: ModelSpec) -> None:
        with self.averaged():
            save_model(self.model, spec, self.run_dir / "best.keras")

    def checkpoint(self) -> None:
        state = self.state
        self.checkpoints.save(
            self.model,
            self.optimizer,
            state.step,
            {
                "step": state.step,
                "best": state.best,
                "lr": learning_rate(self.optimizer),
                "plateau": self.adaptive.state() if self.adaptive is not None else {},
                "elapsed_s": state.elapsed(),
                "anneal_start_lr": self.anneal.start_lr,
                "batch_size": self.config.batch_size,
                "seed": self.config.seed,
            },
            averages=self.average.values() if self.average is not None else None,
        )

    def dataset(self) -> tf.data.Dataset:
        """The training batches from the current step on (the same batches an uninterrupted run sees)."""
        config, start = self.config, self.state.step
        data_count, fresh_count, unlabelled_places = batch_parts(config, self.unlabelled is not None)
        fresh, labelled = self._fresh_captchas(), data_count + fresh_count
        images, ids = self.train_data.images, self.train_ids
        unlabelled = self.unlabelled.images if self.unlabelled else None

        def batches() -> Iterator[tuple[np.ndarray, ...]]:
            stream = batch_stream(images, ids, labelled, config.seed, start, config.augment, fresh, fresh_count)
            if not unlabelled_places:
                return stream
            return joined_stream(stream, unlabelled_stream(unlabelled, unlabelled_places, config.seed, start))

        shape = images.shape[1:]
        return training_dataset(
            batches,
            (labelled, *shape),
            (labelled, ids.shape[1]),
            (unlabelled_places, *shape) if unlabelled_places else None,
        )

    def fit(self, callbacks: list[keras.callbacks.Callback], rounds: int, steps: int) -> None:
        """`rounds` more validation rounds of `steps` steps each (fewer where a stop comes first)."""
        first = self.state.step // self.config.val_every
        self.training_model.fit(
            self.dataset(),
            initial_epoch=first,
            epochs=first + rounds,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=0,
        )

    def run(self) -> TrainResult:
        config, state = self.config, self.state
        state.started = time.monotonic()
        state.clock = state.elapsed_before
        if state.step >= config.max_steps:
            state.stop_reason = "max steps reached"
        elif state.elapsed_before >= (config.time_budget_s or math.inf):
            budget = format_duration(config.time_budget_s)
            state.stop_reason = f"time budget used (the run's --time is {budget}: a longer one goes on)"
        with self.reporter.progress("Training", config.max_steps) as bar:
            bar.advance(state.step)
            callbacks = run_callbacks(
                RunControl(state, config, self.anneal, bar, self.reporter, lambda: self.stop.reason, self.strategy),
                ValidationRounds(state, config, self.validate, self.save_best),
                self.adaptive,
                RoundLog(state, self.metrics, self.run_dir, self.reporter),
                StepCheckpoints(state, config, self.checkpoint),
            )
            into = state.step % config.val_every
            if into and not state.stop_reason:
                # a run resumed inside a round first finishes it: Keras starts every epoch at its first step
                self.fit(callbacks, 1, config.val_every - into)
            if not state.stop_reason:
                rounds = math.ceil((config.max_steps - state.step) / config.val_every)
                self.fit(callbacks, rounds, config.val_every)
        self.checkpoint()
        if state.calibrated_spec is None:  # no step this time (a resumed run with its budget used)
            _, state.calibrated_spec = self.validate()
        with self.averaged():
            save_model(self.model, state.calibrated_spec, self.run_dir / "last.keras")
        if not self.chief:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.reporter.event(RunEnded(str(self.run_dir), state.step, state.stop_reason, state.best))
        return TrainResult(
            self.run_dir,
            state.step,
            state.stop_reason,
            state.best,
            state.last_row,
            interrupted=state.stop_reason == "interrupted",
        )

    def _fresh_captchas(self) -> FreshCaptchas | None:
        """The `--synthetic-mix` series, in the training labels' charset and lengths."""
        if self.config.synthetic_mix <= 0:
            return None
        lengths = tuple(sorted({len(label) for label in self.train_data.labels}))
        style = self.saved_config["data"]["synthetic_style"]
        return FreshCaptchas(self.spec, style, lengths, self.config.seed)


def run_training(request: TrainRequest, reporter: Reporter, stop: StopFlag | None = None) -> TrainResult:
    """Train (or resume) a run and return where it ended; SIGINT stops cleanly with a checkpoint."""
    stop = stop or StopFlag()
    trainer = Trainer(request, reporter, stop)
    trainer.prepare()
    trainer.build()
    restore = stop.install()
    try:
        return trainer.run()
    finally:
        restore()
