"""The faster TensorFlow kernels the model's layers run on, as drop-in Keras layers, and `Kernels`,
the choice of layer classes a model is built from.

On any backend other than TensorFlow both layers are Keras's own, so the model still builds there
(benchmarks/gpu_train.py runs on JAX); TensorFlow is imported where the kernels run.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

# Output maps at most this many positions (height x width) get the matmul kernel gradient: on a CPU,
# oneDNN's backward-filter kernel is slow when batch x positions is small (measured 2.5x slower than
# the matmul for ResNet-34's 2x7 conv5 maps, and faster than it for conv4's 4x13; benchmarks/RESULTS.md).
SMALL_MAP_POSITIONS = 16


@keras.saving.register_keras_serializable(package="captcha_cli")
class FusedBatchNormalization(layers.BatchNormalization):
    """Batch normalization whose training step is TensorFlow's one fused kernel.

    Keras 3 normalizes with separate reductions and elementwise ops in float32, casting bfloat16
    activations up and back; `FusedBatchNormV3` does the same sums in one op on the compute dtype
    with float32 statistics. The moving statistics use the batch variance with Bessel's correction
    (a factor n/(n-1), n = batch x height x width). Inference, masks, other ranks or axes and
    `synchronized=True` take Keras's own path, as does any backend other than TensorFlow.
    """

    def call(self, inputs, training=None, mask=None):
        fusable = (
            keras.backend.backend() == "tensorflow"
            and training
            and self.trainable
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.center
            and self.scale
            and not self.renorm
            and not self.synchronized
        )
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=tf.cast(inputs, self.compute_dtype),
            scale=tf.convert_to_tensor(self.gamma),
            offset=tf.convert_to_tensor(self.beta),
            mean=tf.convert_to_tensor(self.moving_mean),
            variance=tf.convert_to_tensor(self.moving_variance),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0 - self.momentum,
            data_format="NHWC",
            is_training=True,
        )
        self.moving_mean.assign(mean)
        self.moving_variance.assign(variance)
        return outputs


@keras.saving.register_keras_serializable(package="captcha_cli")
class SmallMapConv2D(layers.Conv2D):
    """Conv2D whose kernel gradient on small output maps is one matrix multiply.

    The gradient of the kernel is the input's patches (`ExtractImagePatches`, laid out as the kernel's
    height, width and input channels) times the output's gradient, summed over batch and positions.
    It equals TensorFlow's `Conv2DBackpropFilter` and is used only where that kernel is slow: on
    TensorFlow on a CPU, for output maps of at most `SMALL_MAP_POSITIONS` positions. Elsewhere it is Keras's Conv2D.
    """

    def convolution_op(self, inputs, kernel):
        if not self._matmul_gradient(inputs):
            return super().convolution_op(inputs, kernel)
        import tensorflow as tf

        strides = [1, *self.strides, 1]
        padding = self.padding.upper()

        @tf.custom_gradient
        def convolve(x, k):
            def gradient(dy):
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=k, out_backprop=dy, strides=strides, padding=padding
                )
                kh, kw, cin, cout = k.shape
                patches = tf.image.extract_patches(x, [1, kh, kw, 1], strides, [1, 1, 1, 1], padding)
                dk = tf.matmul(tf.reshape(patches, (-1, kh * kw * cin)), tf.reshape(dy, (-1, cout)), transpose_a=True)
                return dx, tf.reshape(dk, k.shape)

            return tf.nn.conv2d(x, k, strides, padding), gradient

        return convolve(inputs, tf.convert_to_tensor(kernel))  # a tensor: the gradient goes to the read

    def _matmul_gradient(self, inputs) -> bool:
        """True on TensorFlow and a CPU for a plain channels-last convolution with a small, static
        output map."""
        shape = tuple(inputs.shape)
        if keras.backend.backend() != "tensorflow" or None in shape[1:]:
            return False
        if self.data_format != "channels_last" or self.groups != 1 or any(d != 1 for d in self.dilation_rate):
            return False
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return False
        _, height, width, _ = self.compute_output_shape(shape)
        return height * width <= SMALL_MAP_POSITIONS


@dataclass(frozen=True)
class Kernels:
    """The layer classes the model is built from: ours by default, Keras's own for comparisons.

    Both give the same numbers (tests/test_fused_batchnorm.py, tests/test_fast_kernels.py); ours
    train faster (benchmarks/kernel_speed.py, benchmarks/train_speed.py).
    """

    batch_norm: type[layers.BatchNormalization] = FusedBatchNormalization
    conv: type[layers.Conv2D] = SmallMapConv2D

    def norm(self, name: str | None) -> layers.BatchNormalization:
        """A BatchNorm layer with the epsilon of Keras's ResNet applications."""
        return self.batch_norm(epsilon=1.001e-5, name=name)


FAST_KERNELS = Kernels()
KERAS_KERNELS = Kernels(batch_norm=layers.BatchNormalization, conv=layers.Conv2D)
