"""Keras 3 target: the functional API on NHWC input, layer names from the spec.

Keras already shares specgen's conventions (channels-last, TensorFlow 'same' padding,
pooling that ignores padding), so this target is mostly declarative. Explicit
convolution padding becomes a ZeroPadding2D layer in front; activations with a
parameter the frameworks disagree on become their own layer with the value spelled out.
"""

from __future__ import annotations

from typing import ClassVar

from specgen.activations import ELU_ALPHA, LEAKY_RELU_NEGATIVE_SLOPE, canonical_activation
from specgen.formulas import same_padding
from specgen.graph import Node
from specgen.layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    MaxPool2D,
    Pads,
    SeparableConv2D,
    ZeroPadding2D,
)
from specgen.layers.conv2d_transpose import Conv2DTranspose
from specgen.layers.cropping2d import Cropping2D
from specgen.layers.normalization import Normalization
from specgen.layers.pooling import GlobalAvgPool2D, GlobalMaxPool2D
from specgen.layers.rescaling import Rescaling
from specgen.layers.reshape import Reshape
from specgen.layers.upsample2d import UpSample2D
from specgen.targets.base import (
    INDENT,
    LINE_LENGTH,
    Call,
    Code,
    Definition,
    Target,
    _Instance,
    _Lowering,
    def_layout,
    identifier,
    literal,
)
from specgen.targets.framework_bugs import (
    KERAS_BIAS_ADD_BUG,
    TENSORFLOW_CONV2D_BUG,
    conv2d_bug_rewrite,
    keras_bias_add_batches,
    tensorflow_conv2d_bug,
)

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


# Beyond this many Keras layers the emitted builder raises Python's recursion limit.
DEEP_NETWORK_LAYERS = 400


class KerasTarget(Target):
    name = "keras"
    template = "model.py.j2"
    reserved = frozenset({"keras", "layers", "build_model", "x"})
    module_names = frozenset(
        {"keras", "layers", "build_model", "sys", "RECURSION_LIMIT", "build_graph"}
    )
    python_attrs = False  # attributes are layer-name suffixes, not Python names
    defaults: ClassVar[dict[str, dict[str, object]]] = {
        "layers.Conv2D": {
            "strides": 1,
            "padding": "valid",
            "dilation_rate": 1,
            "groups": 1,
            "use_bias": True,
            "activation": "linear",
        },
        "layers.DepthwiseConv2D": {
            "strides": 1,
            "padding": "valid",
            "depth_multiplier": 1,
            "dilation_rate": 1,
            "use_bias": True,
            "activation": "linear",
        },
        "layers.SeparableConv2D": {
            "strides": 1,
            "padding": "valid",
            "depth_multiplier": 1,
            "dilation_rate": 1,
            "use_bias": True,
            "activation": "linear",
        },
        "layers.Conv2DTranspose": {
            "strides": 1,
            "padding": "valid",
            "output_padding": None,
            "dilation_rate": 1,
            "use_bias": True,
            "activation": "linear",
        },
        "layers.MaxPooling2D": {"padding": "valid"},
        "layers.AveragePooling2D": {"padding": "valid"},
        "layers.Dense": {"use_bias": True, "activation": "linear"},
        "layers.BatchNormalization": {"axis": -1, "center": True, "scale": True},
        "layers.Rescaling": {"offset": 0.0},
        "layers.Normalization": {"axis": -1},
        "layers.GlobalAveragePooling2D": {"keepdims": False},
        "layers.GlobalMaxPooling2D": {"keepdims": False},
        "layers.UpSampling2D": {"size": 2, "interpolation": "nearest"},
    }

    def finish(self) -> None:
        out = self.out
        assert out.model is not None
        # Keras maps a functional graph recursively (keras.src.ops.function's
        # _build_map_helper): about 1.5 frames per layer, so beyond some 600 layers the
        # default limit of 1000 frames raises RecursionError. Deep networks get a builder
        # that raises the limit while it runs, with a wide margin.
        layers_built = len(out.paths)
        if layers_built > DEEP_NETWORK_LAYERS:
            out.recursion_limit = 1000 + 4 * layers_built
        out.calls["input"] = self.call("keras.Input", shape=out.input_shape, name="input")
        outputs = out.model.output_vars
        shown = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
        # keras.Model(...) is laid out at one indent, its arguments at two: a list too
        # long for its line gets one name a line, as ruff formats it.
        if len(f"{INDENT * 2}outputs={shown},") > LINE_LENGTH:
            names = "".join(f"{INDENT * 3}{name},\n" for name in outputs)
            shown = f"[\n{names}{INDENT * 2}]"
        out.calls["model"] = Call(
            "keras.Model",
            kwargs=(
                ("inputs", out.model.input_var),
                ("outputs", shown),
                ("name", literal(out.name)),
            ),
        )

    def input_name(self, top: bool, used_once_first: bool) -> str:
        if top:
            return "inputs"  # the keras.Input, which keras.Model also takes
        return "x" if used_once_first else "inputs"

    def value_reserved(self) -> set[str]:
        return {*super().value_reserved(), "name"}

    def definition_name(self, block: str) -> str:
        return block

    def path_of(self, attr: str, state: _Lowering) -> str:
        prefix = state.scope.prefix
        return f"{prefix}_{attr}" if prefix else attr

    def layer_name(self, attr: str) -> object:
        """The ``name=`` of a Keras layer: spelled out at the top level; inside a block
        function, its ``name`` argument plus the local suffix (keras.applications style)."""
        if self.scope.scope.use is None:
            return attr
        return Code(f"name + {literal('_' + attr)}")

    def node_name(self, node: Node) -> object:
        return self.layer_name(self.attr(node))

    def signature_of(self, definition: Definition) -> str:
        return def_layout(
            "",
            definition.name,
            [*((p.name, p.annotation) for p in definition.params), ("name", "str")],
            "keras.KerasTensor",
            first=f"{identifier(definition.input_var)}: keras.KerasTensor",
        )

    def instance_call(
        self, definition: Definition, args: list[tuple[str, str, object]], instance: _Instance
    ) -> Call:
        use = instance.use
        if instance.parent_is_model:  # (possibly inside a block emitted in place)
            name = literal(use.instance)
        else:
            name = f"name + {literal('_' + instance.step.attr)}"
        (source,) = instance.step.inputs
        return Call(
            definition.name,
            (source,),
            (*((n, text) for n, text, _ in args), ("name", name)),
            (Code(source), *(raw for _, _, raw in args), Code(name)),
        )

    def activation_call(self, activation: str, name: object) -> Call:
        kind = canonical_activation(activation)
        if kind == "leaky_relu":
            return self.call(
                "layers.LeakyReLU", negative_slope=LEAKY_RELU_NEGATIVE_SLOPE, name=name
            )
        if kind == "softmax":
            return self.call("layers.Softmax", axis=-1, name=name)
        if kind == "elu":
            return self.call("layers.ELU", alpha=ELU_ALPHA, name=name)
        return self.call("layers.Activation", kind, name=name)

    def fused(self, node: Node, activation: str) -> str | None:
        """The activation string to fuse into the layer, or None to add a separate layer."""
        kind = canonical_activation(activation)
        return kind if kind == "linear" or kind in _FUSABLE else None

    def add_activation_after(self, node: Node, activation: str) -> None:
        if self.fused(node, activation) is None:
            attr = self.helper_name(node, "act")
            self.add(node, self.activation_call(activation, self.layer_name(attr)), attr=attr)

    def lower_conv2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Conv2D) and node.padding is not None
        if max(layer.stride) > 1 and max(layer.dilation) > 1:
            self.unsupported(
                node,
                f"stride {list(layer.stride)} together with dilation {list(layer.dilation)}",
                "Keras' Conv2D refuses strides > 1 with dilation_rate > 1. Unless padding is "
                "'same', stride 1 followed by max_pool2d with pool_size 1 and this stride "
                "computes the same values; PyTorch takes the layer as it is",
                field="dilation",
            )
            return
        if tensorflow_conv2d_bug(node):
            self.warn(
                node,
                "SG303",
                f"{TENSORFLOW_CONV2D_BUG}'s CPU conv2d is reported to return wrong values "
                "(off by up to 1e15 or NaN, changing between calls) for one input channel, "
                "stride [1, > 1], output width 1, output height >= 2 and kernel width >= 2",
                conv2d_bug_rewrite(node).hint(),
                field="stride",
            )
        self._convolution(node, "layers.Conv2D", layer.filters, groups=layer.groups)

    def _convolution(self, node: Node, keras_class: str, *args: object, **extra: object) -> None:
        """A sliding-window convolution (conv2d, depthwise, separable): padding resolved
        as the layer needs it, the activation fused where Keras' string form is exact."""
        layer = node.layer
        assert isinstance(layer, Conv2D | DepthwiseConv2D | SeparableConv2D)
        padding = self.conv_padding(node, layer.padding, layer.kernel_size, layer.stride)
        self.add(
            node,
            self.call(
                keras_class,
                *args,
                kernel_size=layer.kernel_size,
                strides=layer.stride,
                padding=padding,
                dilation_rate=layer.dilation,
                **extra,
                use_bias=layer.use_bias,
                activation=self.fused(node, layer.activation) or "linear",
                name=self.node_name(node),
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
            self.call(
                keras_class,
                pool_size=layer.pool_size,
                # Keras' strides default to pool_size, as specgen's stride does.
                **({} if layer.strides == layer.pool_size else {"strides": layer.strides}),
                padding=padding,
                name=self.node_name(node),
            ),
        )

    def lower_max_pool2d(self, node: Node) -> None:
        self._pool(node, "layers.MaxPooling2D")

    def lower_avg_pool2d(self, node: Node) -> None:
        self._pool(node, "layers.AveragePooling2D")

    def _global_pool(self, node: Node, keras_class: str) -> None:
        layer = node.layer
        assert isinstance(layer, GlobalAvgPool2D | GlobalMaxPool2D)
        self.add(node, self.call(keras_class, keepdims=layer.keepdims, name=self.node_name(node)))

    def lower_global_avg_pool2d(self, node: Node) -> None:
        self._global_pool(node, "layers.GlobalAveragePooling2D")

    def lower_global_max_pool2d(self, node: Node) -> None:
        self._global_pool(node, "layers.GlobalMaxPooling2D")

    def lower_flatten(self, node: Node) -> None:
        self.add(node, self.call("layers.Flatten", name=self.node_name(node)))

    def lower_dense(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Dense)
        fused = self.fused(node, layer.activation)
        self.add(
            node,
            self.call(
                "layers.Dense",
                layer.units,
                use_bias=layer.use_bias,
                activation=fused or "linear",
                name=self.node_name(node),
            ),
        )
        self.add_activation_after(node, layer.activation)

    def lower_dropout(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Dropout)
        self.add(node, self.call("layers.Dropout", rate=layer.rate, name=self.node_name(node)))

    def lower_batch_norm(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, BatchNorm)
        self.add(
            node,
            self.call(
                "layers.BatchNormalization",
                axis=-1,
                momentum=layer.momentum,
                epsilon=layer.epsilon,
                center=layer.center,
                scale=layer.scale,
                name=self.node_name(node),
            ),
        )

    def lower_activation(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Activation)
        self.add(node, self.activation_call(layer.activation, self.node_name(node)))

    def lower_zero_padding2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, ZeroPadding2D)
        self.add(
            node,
            self.call("layers.ZeroPadding2D", padding=layer.padding, name=self.node_name(node)),
        )

    def _merge(self, node: Node, keras_class: str, **kwargs: object) -> None:
        step = self.add(node, self.call(keras_class, **kwargs, name=self.node_name(node)))
        step.as_list = True  # Keras merge layers take a list of tensors

    def lower_add(self, node: Node) -> None:
        self._bias_add_bug(node)
        self._merge(node, "layers.Add")

    def _bias_add_bug(self, node: Node) -> None:
        batches = keras_bias_add_batches(node)
        if batches:
            shapes = " and ".join(str(list(shape)) for shape in node.input_shapes)
            sizes = " or ".join(map(str, batches))
            self.warn(
                node,
                "SG304",
                f"{KERAS_BIAS_ADD_BUG} adds {shapes} wrongly at batch size {sizes}: "
                "keras.ops.add takes tf.nn.bias_add for an input with one axis larger "
                "than 1 and adds along one axis only (wrong values, or a wrong shape)",
                "give the smaller input a second axis larger than 1, or its full shape "
                "(an upsample2d, say), run the model on Keras' JAX or PyTorch "
                "backend, or avoid these batch sizes",
                field="inputs",
            )

    def lower_subtract(self, node: Node) -> None:
        self._merge(node, "layers.Subtract")

    def lower_multiply(self, node: Node) -> None:
        self._merge(node, "layers.Multiply")

    def lower_average(self, node: Node) -> None:
        self._bias_add_bug(node)
        self._merge(node, "layers.Average")

    def lower_maximum(self, node: Node) -> None:
        self._merge(node, "layers.Maximum")

    def lower_minimum(self, node: Node) -> None:
        self._merge(node, "layers.Minimum")

    def lower_concatenate(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Concatenate)
        rank = len(node.output)
        # Keras counts the batch axis: the spec's axis a over [H, W, C] is a - rank there.
        self._merge(node, "layers.Concatenate", axis=layer.axis % rank - rank)

    def conv_padding(
        self, node: Node, padding: str | Pads, kernel: tuple[int, int], stride: tuple[int, int]
    ) -> str:
        """The Keras padding mode of a convolution: 'valid' or 'same', with a ZeroPadding2D
        layer in front where the padding is asymmetric or larger than 'same'."""
        mode = _keras_padding(node, padding, kernel, stride)
        if mode is not None:
            return mode
        attr = self.helper_name(node, "pad")
        pad = self.call("layers.ZeroPadding2D", padding=padding, name=self.layer_name(attr))
        self.add(node, pad, attr=attr)
        return "valid"

    def depthwise_strides_refused(self, node: Node, stride: tuple[int, int]) -> bool:
        """TensorFlow's depthwise kernel (behind DepthwiseConv2D and SeparableConv2D)
        takes equal strides only: other strides are an SG401 finding."""
        if stride[0] == stride[1]:
            return False
        self.unsupported(
            node,
            f"stride {list(stride)}",
            "TensorFlow's depthwise convolution takes equal strides only (Keras raises when "
            "the model runs). Use equal strides, or stride 1 followed by a max_pool2d with "
            "pool_size 1 and this stride (the same values unless padding is 'same'); "
            "PyTorch takes the layer as it is",
            field="stride",
        )
        return True

    def lower_depthwise_conv2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, DepthwiseConv2D) and node.padding is not None
        if self.depthwise_strides_refused(node, layer.stride):
            return
        self._convolution(node, "layers.DepthwiseConv2D", depth_multiplier=layer.depth_multiplier)

    def lower_separable_conv2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, SeparableConv2D) and node.padding is not None
        if self.depthwise_strides_refused(node, layer.stride):
            return
        self._convolution(
            node,
            "layers.SeparableConv2D",
            layer.filters,
            depth_multiplier=layer.depth_multiplier,
        )

    def lower_rescaling(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Rescaling)
        call = self.call(
            "layers.Rescaling", scale=layer.scale, offset=layer.offset, name=self.node_name(node)
        )
        self.add(node, call)

    def lower_normalization(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Normalization)
        if layer.adaptable:
            self.add(node, self.call("layers.Normalization", axis=-1, name=self.node_name(node)))
            return
        mean, variance = layer.mean, layer.variance
        assert mean is not None and variance is not None
        if isinstance(mean, tuple) != isinstance(variance, tuple):
            # Keras wants both of the same shape: the number is repeated per channel.
            channels = node.output[-1]
            mean = mean if isinstance(mean, tuple) else (mean,) * channels
            variance = variance if isinstance(variance, tuple) else (variance,) * channels
        call = self.call(
            "layers.Normalization",
            axis=-1,
            mean=mean,
            variance=variance,
            name=self.node_name(node),
        )
        self.add(node, call)

    def lower_upsample2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, UpSample2D)
        call = self.call(
            "layers.UpSampling2D",
            size=layer.size,
            interpolation=layer.interpolation,
            name=self.node_name(node),
        )
        self.add(node, call)

    def lower_reshape(self, node: Node) -> None:
        assert isinstance(node.layer, Reshape)
        # The resolved shape (any -1 worked out): Keras' target_shape is channels-last
        # without the batch axis, as the spec's.
        self.add(node, self.call("layers.Reshape", node.output, name=self.node_name(node)))

    def lower_cropping2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Cropping2D)
        call = self.call("layers.Cropping2D", cropping=layer.cropping, name=self.node_name(node))
        self.add(node, call)

    def lower_conv2d_transpose(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Conv2DTranspose)
        if max(layer.stride) > 1 and max(layer.dilation) > 1:
            self.unsupported(
                node,
                f"stride {list(layer.stride)} together with dilation {list(layer.dilation)}",
                "Keras' Conv2DTranspose refuses strides > 1 with dilation_rate > 1; use one "
                "of them, or emit for PyTorch, which takes the layer as it is",
                field="dilation",
            )
            return
        fused = self.fused(node, layer.activation)
        self.add(
            node,
            self.call(
                "layers.Conv2DTranspose",
                layer.filters,
                kernel_size=layer.kernel_size,
                strides=layer.stride,
                padding=layer.padding,
                output_padding=layer.output_padding,
                dilation_rate=layer.dilation,
                use_bias=layer.use_bias,
                activation=fused or "linear",
                name=self.node_name(node),
            ),
        )
        self.add_activation_after(node, layer.activation)
