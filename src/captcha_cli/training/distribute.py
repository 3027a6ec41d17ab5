"""Where training runs: the tf.distribute strategy behind `--strategy`."""

from __future__ import annotations

import os

import tensorflow as tf

from captcha_cli.errors import TrainingError

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`one`: the default single-device strategy. `mirrored`: MirroredStrategy over every local GPU,
    or over the logical CPU devices when there is no GPU. `auto`: mirrored when there are two or
    more GPUs, else one. `multi-worker`: MultiWorkerMirroredStrategy across the machines that
    TF_CONFIG names. The batch size is global: each replica gets batch / replicas.
    """
    if name not in STRATEGIES:
        raise TrainingError(f"unknown strategy; choose one of {', '.join(STRATEGIES)}. Received: strategy={name!r}")
    if name == "multi-worker":  # before anything initializes the TensorFlow runtime
        if not os.environ.get("TF_CONFIG"):
            raise TrainingError(
                "--strategy multi-worker needs TF_CONFIG describing the cluster and this task",
                hint="see the README's two-machine example",
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The worker that writes the run folder: the `chief` task, else worker 0, else the only one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def workers(strategy: tf.distribute.Strategy) -> int:
    return getattr(strategy.extended, "_num_workers", 1)


def agree(strategy: tf.distribute.Strategy, flag: bool, elapsed_s: float) -> tuple[bool, float]:
    """Whether any worker says stop, and the workers' mean seconds trained: one collective, the same
    answer on every worker, so all stop at the same step and anneal at the same rate (no-op on one worker).
    """
    if workers(strategy) == 1:
        return flag, elapsed_s
    per_replica = strategy.run(lambda: tf.constant([1.0 if flag else 0.0, elapsed_s], tf.float64))
    flags, elapsed_sum = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()
    return bool(flags > 0), float(elapsed_sum / strategy.num_replicas_in_sync)


def check_batch(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise TrainingError(
            f"the global batch size must divide evenly over {replicas} replicas. Received: batch_size={batch_size}"
        )
