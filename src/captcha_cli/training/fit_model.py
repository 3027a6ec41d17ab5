"""The recognizer as `Model.fit` trains it: a Keras model around the built network whose
`train_step` adds the confidence penalty to the loss and moves the `--ema` average after each step."""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from captcha_cli.training.averaging import WeightAverage

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class TrainingModel(keras.Model):
    """Wraps `network` (the model that is saved) for `fit`. The logged `loss` is the loss alone,
    averaged over the validation round; the gradient is taken of the loss plus the penalty."""

    def __init__(
        self,
        network: keras.Model,
        loss_fn: LossFn,
        penalty_fn: Callable[[tf.Tensor], tf.Tensor] | None = None,
        average: WeightAverage | None = None,
    ) -> None:
        super().__init__(name=f"{network.name}_training")
        self.network = network
        self.loss_fn = loss_fn
        self.penalty_fn = penalty_fn
        self.average = average
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        """Nothing to build: the network and the optimizer are built before `fit`. (Keras 3.15's
        build first takes the mean of a batch across replicas, which fails on the integer labels
        under MultiWorkerMirroredStrategy: `Attempt to convert a value (PerReplica...)`.)"""

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.network(x, training=training)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]  # `fit` resets it when each round (epoch) begins

    def train_step(self, data: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        x, y = data
        variables = self.network.trainable_variables
        replicas = self.distribute_strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            logits = self.network(x, training=True)
            loss = self.loss_fn(y, logits)
            objective = loss + self.penalty_fn(logits) if self.penalty_fn else loss
            # the optimizer sums gradients over replicas: scale each replica's mean loss
            scaled = self.optimizer.scale_loss(objective / replicas)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        if self.average is not None:  # once per step, not per replica: the weights are mirrored
            steps_before = self.optimizer.iterations - 1
            tf.distribute.get_replica_context().merge_call(lambda _: self.average.update(steps_before))
        self.loss_tracker.update_state(loss)
        # shape [1], not a scalar: Keras 3.15 takes the mean of each output across workers along
        # axis 0, which a scalar lacks under MultiWorkerMirroredStrategy
        return {"loss": tf.reshape(self.loss_tracker.result(), [1])}
