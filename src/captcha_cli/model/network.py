"""THE model module: residual blocks and stacks, the ResNet + BiLSTM captcha model, its description.

It builds on any Keras 3 backend; the layers' faster TensorFlow kernels are in `kernels.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from captcha_cli.model.kernels import FAST_KERNELS, Kernels
from captcha_cli.spec import ModelSpec


def _name(prefix: str | None, suffix: str) -> str | None:
    """A hierarchical layer name, or None (Keras picks a unique one) when no prefix was given."""
    return f"{prefix}_{suffix}" if prefix else None


def residual_block(
    x,
    filters: int,
    stride: int | tuple[int, int] = 1,
    conv_shortcut: bool = False,
    name: str | None = None,
    kernels: Kernels = FAST_KERNELS,
):
    """A basic ResNet block: Conv3x3-BN-ReLU-Conv3x3-BN, Add(shortcut), ReLU.

    Args:
        x: input tensor.
        filters: filters of both 3x3 convolutions.
        stride: stride of the first convolution (and of the conv shortcut); (height, width) where they differ.
        conv_shortcut: use a 1x1 Conv2D + BN shortcut instead of the identity.
        name: block label; layers are named `{name}_1_conv`, ..., `{name}_out`.
        kernels: the convolution and BatchNorm layer classes.

    Returns:
        Output tensor of the block.
    """
    if conv_shortcut:
        shortcut = kernels.conv(filters, 1, strides=stride, name=_name(name, "0_conv"))(x)
        shortcut = kernels.norm(_name(name, "0_bn"))(shortcut)
    else:
        shortcut = x
    x = kernels.conv(filters, 3, strides=stride, padding="same", name=_name(name, "1_conv"))(x)
    x = kernels.norm(_name(name, "1_bn"))(x)
    x = layers.Activation("relu", name=_name(name, "1_relu"))(x)
    x = kernels.conv(filters, 3, padding="same", name=_name(name, "2_conv"))(x)
    x = kernels.norm(_name(name, "2_bn"))(x)
    x = layers.Add(name=_name(name, "add"))([shortcut, x])
    return layers.Activation("relu", name=_name(name, "out"))(x)


def residual_stack(
    x,
    filters: int,
    blocks: int,
    stride: int | tuple[int, int] = 1,
    name: str | None = None,
    kernels: Kernels = FAST_KERNELS,
):
    """A stack of residual blocks; the first carries the stride and the conv shortcut.

    Args:
        x: input tensor.
        filters: filters of every block.
        blocks: number of blocks.
        stride: stride of the first block.
        name: stack label; blocks are named `{name}_block1`, `{name}_block2`, ...
        kernels: the convolution and BatchNorm layer classes.

    Returns:
        Output tensor of the stack.
    """
    x = residual_block(x, filters, stride=stride, conv_shortcut=True, name=_name(name, "block1"), kernels=kernels)
    for i in range(2, blocks + 1):
        x = residual_block(x, filters, name=_name(name, f"block{i}"), kernels=kernels)
    return x


def build_model(spec: ModelSpec | None = None, kernels: Kernels = FAST_KERNELS) -> keras.Model:
    """Build the captcha model: ResNet stem and stages, then BiLSTM (beside the CNN's own sequence with
    `sequence_shortcut`), FC and the output layer.

    Args:
        spec: the model spec; the report's ResNet-34 defaults when omitted.
        kernels: the convolution and BatchNorm layer classes of the residual stages and the stem's BatchNorm.

    Returns:
        An uncompiled `keras.Model` named for its preset (`captcha_resnet34`, `captcha_small`),
        mapping images in [0, 1] of shape (height, width, channels) to `max_length * num_classes` logits.
    """
    spec = spec or ModelSpec()
    inputs = keras.Input(shape=spec.input_shape, name="image")
    x = layers.Conv2D(spec.stem_filters, spec.stem_kernel, strides=spec.stem_stride, padding="same", name="conv1_conv")(
        inputs
    )
    x = kernels.norm("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.MaxPooling2D(spec.pool_size, strides=spec.pool_stride, padding="same", name="pool1_pool")(x)
    for stage, (blocks, filters, stride, width_stride) in enumerate(
        zip(spec.stage_blocks, spec.stage_filters, spec.stage_strides, spec.width_strides, strict=True), start=2
    ):
        strides = stride if width_stride == stride else (stride, width_stride)
        x = residual_stack(x, filters, blocks, stride=strides, name=f"conv{stage}", kernels=kernels)
    height, width = spec.feature_map_size()
    channels = spec.stage_filters[-1]
    x = layers.Permute((2, 1, 3), name="to_sequence_permute")(x)
    x = layers.Reshape((width, height * channels), name="to_sequence")(x)
    if spec.sequence_upsampling > 1:
        x = layers.UpSampling1D(spec.sequence_upsampling, name="to_sequence_upsampling")(x)
    sequence = x
    x = layers.Bidirectional(layers.LSTM(spec.lstm_units, return_sequences=True), name="bilstm")(x)
    if spec.sequence_shortcut:  # each step's classifier also sees its own CNN column
        x = layers.Concatenate(name="bilstm_shortcut")([x, sequence])
    if spec.loss == "ctc":  # a head shared by every time step; CTC aligns steps to characters
        x = layers.Dense(spec.fc_units, activation="relu", name="fc")(x)
        x = layers.Dropout(spec.dropout, name="dropout_fc")(x)
        x = layers.Dense(spec.num_classes, dtype="float32", name="classes")(x)
        outputs = layers.Reshape((spec.output_size,), dtype="float32", name="output")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(spec.fc_units, activation="relu", name="fc")(x)
        x = layers.Dropout(spec.dropout, name="dropout_fc")(x)
        outputs = layers.Dense(spec.output_size, dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=spec.model_name)


@dataclass(frozen=True)
class ModelPart:
    """One row of the model description: a named group of layers."""

    name: str
    output_shape: tuple
    layers: int
    params: int
    macs: int


def part_of(layer_name: str) -> str | None:
    """Which part of the model a layer belongs to, from its hierarchical name."""
    if layer_name.startswith(("conv1_", "pool1_")):
        return "stem"
    if layer_name.startswith("conv") and "_block" in layer_name:
        return layer_name.split("_", 1)[0] + "_x"
    if layer_name.startswith(("to_sequence", "bilstm")):
        return "sequence head"
    if layer_name in ("flatten", "fc", "dropout_fc"):
        return "fc"
    if layer_name in ("output", "classes"):
        return "output"
    return None


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates per image of a Conv2D, Dense or (Bidirectional) LSTM layer."""
    if isinstance(layer, layers.Conv2D):
        _, h, w, cout = layer.output.shape
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        return int(h * w * kh * kw * cin * cout)
    if isinstance(layer, layers.Dense):
        shape = layer.input.shape
        steps = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
        return int(steps * shape[-1] * layer.units)
    if isinstance(layer, layers.Bidirectional):
        steps, features = layer.input.shape[1], layer.input.shape[2]
        units = layer.forward_layer.units
        return int(2 * steps * 4 * units * (features + units))
    if isinstance(layer, layers.LSTM):
        steps, features = layer.input.shape[1], layer.input.shape[2]
        return int(steps * 4 * layer.units * (features + layer.units))
    return 0


def describe_model(model: keras.Model) -> list[ModelPart]:
    """Group the model's layers into parts (stem, conv2_x..., sequence head, fc, output)."""
    parts: dict[str, dict] = {}
    for layer in model.layers:
        part = part_of(layer.name)
        if part is None:
            continue
        entry = parts.setdefault(part, {"layers": 0, "params": 0, "macs": 0})
        entry["layers"] += 1
        entry["params"] += layer.count_params()
        entry["macs"] += layer_macs(layer)
        entry["output_shape"] = tuple(layer.output.shape)
    return [
        ModelPart(name, entry["output_shape"], entry["layers"], entry["params"], entry["macs"])
        for name, entry in parts.items()
    ]
