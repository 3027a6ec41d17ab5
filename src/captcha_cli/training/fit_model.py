"""The recognizer as `Model.fit` trains it: a Keras model around the built network whose
`train_step` adds the confidence penalty to the loss, learns from pseudo-labelled unlabelled
captchas (`--unlabelled`) and moves the `--ema` average after each step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from captcha_cli.training.averaging import WeightAverage
from captcha_cli.training.semisupervised import PseudoLabeller

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass
class PseudoLabelling:
    """What `--unlabelled` trains with: the teacher that reads the weak views, how its readings
    become labels, the per-image loss and the threshold a reading's probability must reach."""

    teacher: keras.Model
    read: PseudoLabeller
    sample_loss: LossFn
    threshold: float


class TrainingModel(keras.Model):
    """Wraps `network` (the model that is saved) for `fit`. The logged `loss` is the loss on the
    labelled images alone, averaged over the validation round; the gradient is taken of it plus
    the penalty and the unlabelled images' loss. With `pseudo`, each batch is (images, ids, weak
    views, strong views) and `pseudo_labelled` logs the share of readings that reached the threshold."""

    def __init__(
        self,
        network: keras.Model,
        loss_fn: LossFn,
        penalty_fn: Callable[[tf.Tensor], tf.Tensor] | None = None,
        average: WeightAverage | None = None,
        pseudo: PseudoLabelling | None = None,
    ) -> None:
        super().__init__(name=f"{network.name}_training")
        self.network = network
        self.loss_fn = loss_fn
        self.penalty_fn = penalty_fn
        self.average = average
        self.pseudo = pseudo
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.pseudo_tracker = keras.metrics.Mean(name="pseudo_labelled")

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        """Nothing to build: the network and the optimizer are built before `fit`. (Keras 3.15's
        build first takes the mean of a batch across replicas, which fails on the integer labels
        under MultiWorkerMirroredStrategy: `Attempt to convert a value (PerReplica...)`.)"""

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.network(x, training=training)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # `fit` resets them when each round (epoch) begins
        return [self.loss_tracker] + ([self.pseudo_tracker] if self.pseudo else [])

    def train_step(self, data: tuple[tf.Tensor, ...]) -> dict[str, tf.Tensor]:
        x, y, *unlabelled = data
        variables = self.network.trainable_variables
        replicas = self.distribute_strategy.num_replicas_in_sync
        if unlabelled:
            weak, strong = unlabelled
            pseudo_ids, probability = self.pseudo.read(self.pseudo.teacher(weak, training=False))
            used = tf.cast(probability >= self.pseudo.threshold, tf.float32)
            x = tf.concat([x, strong], axis=0)  # one pass: BatchNorm sees both
        labelled = tf.shape(y)[0]
        with tf.GradientTape() as tape:
            logits = self.network(x, training=True)
            loss = self.loss_fn(y, logits[:labelled])
            objective = loss + self.penalty_fn(logits) if self.penalty_fn else loss
            if unlabelled:
                unlabelled_losses = self.pseudo.sample_loss(pseudo_ids, logits[labelled:])
                objective += tf.reduce_mean(used * tf.cast(unlabelled_losses, tf.float32))
            # the optimizer sums gradients over replicas: scale each replica's mean loss
            scaled = self.optimizer.scale_loss(objective / replicas)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        if self.average is not None:  # once per step, not per replica: the weights are mirrored
            steps_before = self.optimizer.iterations - 1
            tf.distribute.get_replica_context().merge_call(lambda _: self.average.update(steps_before))
        self.loss_tracker.update_state(loss)
        # shape [1], not a scalar: Keras 3.15 takes the mean of each output across workers along
        # axis 0, which a scalar lacks under MultiWorkerMirroredStrategy
        logs = {"loss": tf.reshape(self.loss_tracker.result(), [1])}
        if unlabelled:
            self.pseudo_tracker.update_state(used)
            logs["pseudo_labelled"] = tf.reshape(self.pseudo_tracker.result(), [1])
        return logs
