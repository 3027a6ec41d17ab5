"""Where training runs: the tf.distribute strategy behind `--strategy`."""

from __future__ import annotations

import tensorflow as tf

from captcha_cli.errors import TrainingError

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`one`: the default single-device strategy. `mirrored`: MirroredStrategy over every local GPU,
    or over the logical CPU devices when there is no GPU. `auto`: mirrored when there are two or
    more GPUs, else one. The batch size is global: each replica gets batch / replicas.
    """
    if name not in STRATEGIES:
        raise TrainingError(f"unknown strategy; choose one of {', '.join(STRATEGIES)}. Received: strategy={name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "multi-worker":
        raise TrainingError(
            "--strategy multi-worker is not implemented yet",
            hint="use mirrored on one machine; see the open issue on scale-out",
        )
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def check_batch(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise TrainingError(
            f"the global batch size must divide evenly over {replicas} replicas. Received: batch_size={batch_size}"
        )
