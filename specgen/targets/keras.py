"""Keras 3 target: the functional API on NHWC input, layer names from the spec.

Keras already shares specgen's conventions (channels-last, TensorFlow 'same' padding,
pooling that ignores padding), so this target is mostly declarative. Explicit
convolution padding becomes a ZeroPadding2D layer in front; activations with a
parameter the frameworks disagree on become their own layer with the value spelled out.
"""

from __future__ import annotations

from specgen.activations import ELU_ALPHA, LEAKY_RELU_NEGATIVE_SLOPE, canonical_activation
from specgen.formulas import same_padding
from specgen.graph import Node
from specgen.layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    MaxPool2D,
    Pads,
    ZeroPadding2D,
)
from specgen.targets.base import Call, Lowered, Target, literal

# Activations whose Keras string form takes no parameter that could differ from PyTorch.
_FUSABLE = {"relu", "relu6", "sigmoid", "tanh", "gelu", "silu", "hard_sigmoid", "hard_swish"}


def _zero(pads: Pads) -> bool:
    return pads == ((0, 0), (0, 0))


def _keras_padding(
    node: Node, padding: str | Pads, window: tuple[int, int], stride: tuple[int, int]
) -> str | None:
    """The Keras padding mode that is exactly `padding`, or None when there is none.

    Explicit padding that equals what 'same' resolves to on this input is 'same'.
    """
    if isinstance(padding, str):
        return padding
    if _zero(padding):
        return "valid"
    dilation = getattr(node.layer, "dilation", (1, 1))
    h, w = node.input_shapes[0][:2]
    same = (
        same_padding(h, window[0], stride[0], dilation[0]),
        same_padding(w, window[1], stride[1], dilation[1]),
    )
    return "same" if padding == same else None


class KerasTarget(Target):
    name = "keras"
    template = "model.py.j2"
    reserved = frozenset({"keras", "layers", "build_model", "x"})
    module_names = frozenset({"keras", "layers", "build_model"})

    def output_name(self, node: Node, attr: str) -> str:
        return "x"

    def lower(self) -> Lowered:
        out = super().lower()
        out.calls["input"] = Call.of("keras.Input", shape=out.input_shape, name="input")
        out.calls["model"] = Call(
            "keras.Model",
            kwargs=(
                ("inputs", out.input_var),
                ("outputs", out.output_var),
                ("name", literal(out.name)),
            ),
        )
        return out

    def activation_call(self, activation: str, name: str) -> Call:
        kind = canonical_activation(activation)
        if kind == "leaky_relu":
            return Call.of("layers.LeakyReLU", negative_slope=LEAKY_RELU_NEGATIVE_SLOPE, name=name)
        if kind == "softmax":
            return Call.of("layers.Softmax", axis=-1, name=name)
        if kind == "elu":
            return Call.of("layers.ELU", alpha=ELU_ALPHA, name=name)
        return Call.of("layers.Activation", kind, name=name)

    def fused(self, node: Node, activation: str) -> str | None:
        """The activation string to fuse into the layer, or None to add a separate layer."""
        kind = canonical_activation(activation)
        return kind if kind == "linear" or kind in _FUSABLE else None

    def add_activation_after(self, node: Node, activation: str) -> None:
        if self.fused(node, activation) is None:
            attr = self.helper_name(node, "act")
            self.add(node, self.activation_call(activation, attr), attr=attr)

    def lower_conv2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Conv2D) and node.padding is not None
        padding = _keras_padding(node, layer.padding, layer.kernel_size, layer.stride)
        if padding is None:  # asymmetric or larger than 'same': pad with zeros first
            attr = self.helper_name(node, "pad")
            pad = Call.of("layers.ZeroPadding2D", padding=layer.padding, name=attr)
            self.add(node, pad, attr=attr)
            padding = "valid"
        fused = self.fused(node, layer.activation)
        self.add(
            node,
            Call.of(
                "layers.Conv2D",
                layer.filters,
                kernel_size=layer.kernel_size,
                strides=layer.stride,
                padding=padding,
                dilation_rate=layer.dilation,
                groups=layer.groups,
                use_bias=layer.use_bias,
                activation=fused or "linear",
                name=node.name,
            ),
        )
        self.add_activation_after(node, layer.activation)

    def _pool(self, node: Node, keras_class: str) -> None:
        layer = node.layer
        assert isinstance(layer, MaxPool2D | AvgPool2D)
        padding = _keras_padding(node, layer.padding, layer.pool_size, layer.strides)
        if padding is None:
            self.unsupported(
                node,
                f"explicit pooling padding {[list(p) for p in layer.padding]}",
                "Keras pools only with padding 'valid' or 'same'; use one of those, or a "
                "zero_padding2d layer before it if zeros may take part in the result",
            )
            return
        self.add(
            node,
            Call.of(
                keras_class,
                pool_size=layer.pool_size,
                strides=layer.strides,
                padding=padding,
                name=node.name,
            ),
        )

    def lower_max_pool2d(self, node: Node) -> None:
        self._pool(node, "layers.MaxPooling2D")

    def lower_avg_pool2d(self, node: Node) -> None:
        self._pool(node, "layers.AveragePooling2D")

    def lower_global_avg_pool2d(self, node: Node) -> None:
        self.add(node, Call.of("layers.GlobalAveragePooling2D", keepdims=False, name=node.name))

    def lower_global_max_pool2d(self, node: Node) -> None:
        self.add(node, Call.of("layers.GlobalMaxPooling2D", keepdims=False, name=node.name))

    def lower_flatten(self, node: Node) -> None:
        self.add(node, Call.of("layers.Flatten", name=node.name))

    def lower_dense(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Dense)
        fused = self.fused(node, layer.activation)
        self.add(
            node,
            Call.of(
                "layers.Dense",
                layer.units,
                use_bias=layer.use_bias,
                activation=fused or "linear",
                name=node.name,
            ),
        )
        self.add_activation_after(node, layer.activation)

    def lower_dropout(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Dropout)
        self.add(node, Call.of("layers.Dropout", rate=layer.rate, name=node.name))

    def lower_batch_norm(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, BatchNorm)
        self.add(
            node,
            Call.of(
                "layers.BatchNormalization",
                axis=-1,
                momentum=layer.momentum,
                epsilon=layer.epsilon,
                center=layer.center,
                scale=layer.scale,
                name=node.name,
            ),
        )

    def lower_activation(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Activation)
        self.add(node, self.activation_call(layer.activation, node.name))

    def lower_zero_padding2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, ZeroPadding2D)
        self.add(node, Call.of("layers.ZeroPadding2D", padding=layer.padding, name=node.name))
