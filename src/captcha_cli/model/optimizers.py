"""Adam whose per-variable update is TensorFlow's one fused kernel."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="captcha_cli")
class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each variable updated by `ResourceApplyAdam` in one pass over memory.

    Keras 3 updates a variable with about ten separate ops (subtract, multiply, square, sqrt,
    divide, three assignments), each a full pass over the parameters; TensorFlow's kernel does
    the same arithmetic in one. The update is Keras's: m += (g - m)(1 - beta_1),
    v += (g^2 - v)(1 - beta_2), w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon).
    AMSGrad and non-float32 variables take Keras's own path.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or variable.dtype != tf.float32 or not isinstance(variable, tf.Variable):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
