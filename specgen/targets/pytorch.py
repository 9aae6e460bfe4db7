"""PyTorch target: an ``nn.Module`` on NCHW input whose submodules carry the spec's names.

Where PyTorch's semantics differ from specgen's (which are Keras'), this target spells
out the difference instead of trusting a default:

- 'same' and asymmetric padding become explicit pads (the odd pixel bottom/right);
  PyTorch's own ``padding="same"`` refuses stride > 1.
- a depthwise convolution is ``nn.Conv2d(C, C*dm, groups=C)``; a separable one is two
  modules, ``<name>_depthwise`` (no bias) then the 1x1 pointwise ``<name>`` with the bias;
- max pooling pads with -inf, so padding never wins a max;
- average pooling divides by the number of real pixels (``count_include_pad=False``, or
  the emitted ``AvgPool2dSame`` helper where the padding is asymmetric);
- flatten permutes NCHW to NHWC first, so the vector order equals Keras'; reshape
  likewise, and permutes an [H, W, C] result back to NCHW (the emitted ``Reshape``);
- nearest upsampling is ``mode="nearest-exact"`` (``"nearest"`` picks wrong rows for
  some factors, 41 the first) and bilinear ``align_corners=False`` (half-pixel centres);
- batch norm gets ``momentum = 1 - spec momentum`` (PyTorch weighs the batch); with
  only one of center and scale it is the emitted ``BatchNormHalfAffine`` helper (a bias
  or a weight alone), which nn.BatchNorm2d/1d cannot be;
- rescaling and normalization are emitted helpers computing Keras' formulas, with
  Keras' epsilon 1e-7 bounding the standard deviation; adaptable normalization state
  is three buffers (mean, variance, count) that count as Keras' non-trainable weights;
- a transposed convolution whose 'same' crops one row or column more at the end than at
  the start (Keras' odd crop) becomes the emitted ``ConvTranspose2dSame`` helper.
"""

from __future__ import annotations

from typing import ClassVar

from specgen.activations import ELU_ALPHA, LEAKY_RELU_NEGATIVE_SLOPE, canonical_activation
from specgen.diagnostics import Diagnostic
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
from specgen.layers.normalization import NORMALIZATION_EPSILON, Normalization
from specgen.layers.pooling import GlobalAvgPool2D, GlobalMaxPool2D
from specgen.layers.rescaling import Rescaling
from specgen.layers.reshape import Reshape
from specgen.layers.upsample2d import UpSample2D
from specgen.targets.base import (
    Call,
    Code,
    Definition,
    Lowered,
    Target,
    _Instance,
    _Lowering,
    class_name,
    def_layout,
    identifier,
    literal,
)

# Attributes of torch.nn.Module (torch 2.x): a submodule with one of these names would
# shadow a method. tests/test_targets.py checks this list against the installed torch.
NN_MODULE_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)

_ACTIVATIONS: dict[str, Call] = {
    "linear": Call.of("nn.Identity"),
    "relu": Call.of("nn.ReLU"),
    "relu6": Call.of("nn.ReLU6"),
    "sigmoid": Call.of("nn.Sigmoid"),
    "tanh": Call.of("nn.Tanh"),
    "softmax": Call.of("nn.Softmax", dim=1),  # rank-1 outputs only (SG206): (N, classes)
    "gelu": Call.of("nn.GELU", approximate="none"),
    "silu": Call.of("nn.SiLU"),
    "elu": Call.of("nn.ELU", alpha=ELU_ALPHA),
    "leaky_relu": Call.of("nn.LeakyReLU", negative_slope=LEAKY_RELU_NEGATIVE_SLOPE),
    "hard_sigmoid": Call.of("nn.Hardsigmoid"),
    "hard_swish": Call.of("nn.Hardswish"),
}

NEG_INF = Code('float("-inf")')


def _torch_pad(pads: Pads) -> tuple[int, int, int, int]:
    """specgen's ((top, bottom), (left, right)) in F.pad order: (left, right, top, bottom)."""
    (t, b), (left, right) = pads
    return (left, right, t, b)


def _stride(stride: tuple[int, int], window: tuple[int, int]) -> dict[str, object]:
    """PyTorch pooling strides default to the window, as specgen's do: say it only when
    it differs."""
    return {} if stride == window else {"stride": stride}


def _symmetric(pads: Pads) -> tuple[int, int] | None:
    (t, b), (left, right) = pads
    return (t, left) if t == b and left == right else None


def _pool_own_padding(pads: Pads, window: tuple[int, int]) -> tuple[int, int] | None:
    """Padding that PyTorch's pooling layers take themselves: symmetric, at most half the
    window. None: the target must pad explicitly first."""
    symmetric = _symmetric(pads)
    if symmetric is None or symmetric[0] * 2 > window[0] or symmetric[1] * 2 > window[1]:
        return None
    return symmetric


# Merge layer type -> the emitted helper module that computes it as Keras does.
_MERGES = {
    "add": "Add",
    "subtract": "Subtract",
    "multiply": "Multiply",
    "average": "Average",
    "maximum": "Maximum",
    "minimum": "Minimum",
    "concatenate": "Concatenate",
}


def torch_dim(axis: int, rank: int) -> int:
    """The NCHW (or NF) dimension of a spec axis counted over [H, W, C] (or [N]).

    This is the one place that knows the layout: the spec is channels-last without the
    batch axis, the PyTorch tensors are channels-first with it.

    >>> [torch_dim(a, 3) for a in (0, 1, 2, -1)], torch_dim(-1, 1)
    ([2, 3, 1, 1], 1)
    """
    axis %= rank
    return (2, 3, 1)[axis] if rank == 3 else axis + 1


# The permutes between the PyTorch layout and the spec's channels-last order, batch axis
# included. Flatten and reshape work in the spec's order: they go through NHWC.
TO_CHANNELS_LAST = (0, 2, 3, 1)  # NCHW -> NHWC
TO_CHANNELS_FIRST = (0, 3, 1, 2)  # NHWC -> NCHW


def channels_last(rank: int) -> str:
    """The forward-pass wrapping (`Step.before`) that puts a value of a spec shape of
    `rank` into the spec's order: a permute for [H, W, C], nothing for [N].

    >>> channels_last(3), channels_last(1)
    ('{}.permute(0, 2, 3, 1)', '')
    """
    return "{}.permute" + literal(TO_CHANNELS_LAST) if rank == 3 else ""


def channels_first(rank: int) -> tuple[int, ...] | None:
    """The permute that brings a channels-last value of a spec shape of `rank` back to
    the PyTorch layout (None: [N] is the same in both).

    >>> channels_first(3), channels_first(1)
    ((0, 3, 1, 2), None)
    """
    return TO_CHANNELS_FIRST if rank == 3 else None


class PyTorchTarget(Target):
    name = "pytorch"
    template = "model.py.j2"
    reserved = frozenset({"torch", "nn", "build_model", "x", "self"}) | NN_MODULE_ATTRIBUTES
    module_names = frozenset(
        {"torch", "nn", "F", "AvgPool2dSame", "build_model", *_MERGES.values()}
        | {"Reshape", "Crop2d"}
        | {"BatchNormHalfAffine", "Rescaling", "Normalization", "FixedNormalization"}
        | {"per_channel"}
        | {"ConvTranspose2dSame"}
    )
    attr_reserved = NN_MODULE_ATTRIBUTES
    defaults: ClassVar[dict[str, dict[str, object]]] = {
        "nn.Conv2d": {
            "stride": 1,
            "padding": 0,
            "dilation": 1,
            "groups": 1,
            "bias": True,
            "padding_mode": "zeros",
        },
        "nn.ConvTranspose2d": {
            "stride": 1,
            "padding": 0,
            "output_padding": 0,
            "dilation": 1,
            "bias": True,
        },
        "ConvTranspose2dSame": {
            "stride": 1,
            "padding": 0,
            "output_padding": 0,
            "dilation": 1,
            "bias": True,
        },
        "nn.BatchNorm2d": {"affine": True, "track_running_stats": True},
        "nn.BatchNorm1d": {"affine": True, "track_running_stats": True},
        "nn.MaxPool2d": {"padding": 0, "dilation": 1, "ceil_mode": False},
        "nn.AvgPool2d": {"padding": 0, "ceil_mode": False},
        "nn.Linear": {"bias": True},
        "Reshape": {"permute": None},
    }

    def lower(self) -> Lowered:
        for node in self.graph.layers():
            origin = node.origin
            local = origin.local if origin is not None and origin.uses else node.name
            if local in NN_MODULE_ATTRIBUTES:
                self.unsupported(
                    node,
                    f"a submodule named {local!r} (it would shadow nn.Module.{local})",
                    "rename the layer",
                )
            elif local.startswith("_"):
                # nn.Module keeps its own state in underscore attributes (_modules,
                # _version, ... varying across releases) and Python mangles '__x'.
                self.unsupported(
                    node,
                    f"a submodule named {node.name!r} (underscore names belong to nn.Module)",
                    "rename the layer without a leading underscore",
                )
        # A block instance is a submodule too, named by its local name: reported once, at
        # its first layer (whose notes name the instance and where it is used).
        reported: set[str] = set()
        for node in self.graph.layers():
            for use in node.origin.uses if node.origin is not None else ():
                if use.local.startswith("_") and use.instance not in reported:
                    reported.add(use.instance)
                    self.out.findings.append(
                        Diagnostic(
                            "SG401",
                            f"block instance {use.instance!r} ({use.block}): a submodule "
                            f"named {use.local!r} (underscore names belong to nn.Module) "
                            f"cannot be expressed exactly in {self.name}",
                            hint="rename the instance without a leading underscore",
                            json_path=node.path,
                        )
                    )
        return super().lower()

    def definition_name(self, block: str) -> str:
        return class_name(block, self.module_names)

    def path_of(self, attr: str, state: _Lowering) -> str:
        return f"{state.module_path}.{attr}" if state.module_path else attr

    def signature_of(self, definition: Definition) -> str:
        return def_layout(
            "    ",
            "__init__",
            [(p.name, p.annotation) for p in definition.params],
            "None",
            first="self",
        )

    def instance_call(
        self, definition: Definition, args: list[tuple[str, str, object]], instance: _Instance
    ) -> Call:
        return Call(
            identifier(definition.name),
            (),
            tuple((name, text) for name, text, _ in args),
            tuple(raw for _, _, raw in args),
        )

    def _merge(self, node: Node, **kwargs: object) -> None:
        helper = _MERGES[node.kind]
        self.out.helpers.add(helper)
        self.add(node, self.call(helper, **kwargs))

    def lower_add(self, node: Node) -> None:
        self._merge(node)

    def lower_subtract(self, node: Node) -> None:
        self._merge(node)

    def lower_multiply(self, node: Node) -> None:
        self._merge(node)

    def lower_average(self, node: Node) -> None:
        self._merge(node)

    def lower_maximum(self, node: Node) -> None:
        self._merge(node)

    def lower_minimum(self, node: Node) -> None:
        self._merge(node)

    def lower_concatenate(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Concatenate)
        self._merge(node, dim=torch_dim(layer.axis, len(node.output)))

    def activation(self, node: Node, activation: str) -> None:
        kind = canonical_activation(activation)
        if kind is not None and kind != "linear":
            self.add(node, _ACTIVATIONS[kind], attr=self.helper_name(node, "act"))

    def lower_conv2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Conv2D) and node.padding is not None
        padding = self.conv_padding(node)
        self.add(
            node,
            self.call(
                "nn.Conv2d",
                node.input_shapes[0][2],
                layer.filters,
                kernel_size=layer.kernel_size,
                stride=layer.stride,
                padding=padding,
                dilation=layer.dilation,
                groups=layer.groups,
                bias=layer.use_bias,
                padding_mode="zeros",
            ),
        )
        self.activation(node, layer.activation)

    def lower_max_pool2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, MaxPool2D) and node.padding is not None
        k = layer.pool_size
        symmetric = _pool_own_padding(node.padding, k)
        if symmetric is None:
            # Beyond MaxPool2d's own padding, pad with -inf: padding never wins a max.
            pad = self.call("nn.ConstantPad2d", _torch_pad(node.padding), value=NEG_INF)
            self.add(node, pad, attr=self.helper_name(node, "pad"))
            symmetric = (0, 0)
        self.add(
            node,
            self.call(
                "nn.MaxPool2d",
                kernel_size=k,
                **_stride(layer.strides, k),
                padding=symmetric,
                dilation=1,
                ceil_mode=False,
            ),
        )

    def lower_avg_pool2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, AvgPool2D) and node.padding is not None
        k = layer.pool_size
        symmetric = _pool_own_padding(node.padding, k)
        if symmetric is None:
            self.out.helpers.add("AvgPool2dSame")
            call = self.call(
                "AvgPool2dSame",
                kernel_size=k,
                stride=layer.strides,
                padding=_torch_pad(node.padding),
            )
        else:
            call = self.call(
                "nn.AvgPool2d",
                kernel_size=k,
                **_stride(layer.strides, k),
                padding=symmetric,
                ceil_mode=False,
                count_include_pad=False,
            )
        self.add(node, call)

    def lower_global_avg_pool2d(self, node: Node) -> None:
        if self.keepdims(node):  # (N, C, 1, 1), as the pooling gives it
            self.add(node, self.call("nn.AdaptiveAvgPool2d", 1))
            return
        inner = Code("nn.AdaptiveAvgPool2d(1)"), Code("nn.Flatten()")
        self.add(node, self.call("nn.Sequential", *inner))

    def lower_global_max_pool2d(self, node: Node) -> None:
        if self.keepdims(node):
            self.add(node, self.call("nn.AdaptiveMaxPool2d", 1))
            return
        inner = Code("nn.AdaptiveMaxPool2d(1)"), Code("nn.Flatten()")
        self.add(node, self.call("nn.Sequential", *inner))

    def lower_flatten(self, node: Node) -> None:
        # NCHW -> NHWC first: the flattened vector is in Keras' (H, W, C) order.
        self.add(node, self.call("nn.Flatten"), before=channels_last(3))

    def lower_dense(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Dense)
        (features,) = node.input_shapes[0]
        self.add(node, self.call("nn.Linear", features, layer.units, bias=layer.use_bias))
        self.activation(node, layer.activation)

    def lower_dropout(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Dropout)
        self.add(node, self.call("nn.Dropout", p=layer.rate))

    def lower_batch_norm(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, BatchNorm)
        # Keras: moving = m*moving + (1-m)*batch; PyTorch weighs the batch by its
        # momentum. Rounded so that 1 - 0.99 prints as 0.01.
        momentum = round(1.0 - layer.momentum, 12)
        if layer.center != layer.scale:
            # nn.BatchNorm2d/1d has a weight and a bias, or neither: the helper has one.
            self.out.helpers.add("BatchNormHalfAffine")
            call = self.call(
                "BatchNormHalfAffine",
                node.output[-1],
                eps=layer.epsilon,
                momentum=momentum,
                center=layer.center,
                scale=layer.scale,
            )
            self.add(node, call)
            return
        module = "nn.BatchNorm2d" if len(node.output) == 3 else "nn.BatchNorm1d"
        self.add(
            node,
            self.call(
                module,
                node.output[-1],
                eps=layer.epsilon,
                momentum=momentum,
                affine=layer.center,
                track_running_stats=True,
            ),
        )

    def lower_activation(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Activation)
        kind = canonical_activation(layer.activation)
        assert kind is not None
        self.add(node, _ACTIVATIONS[kind])

    def lower_zero_padding2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, ZeroPadding2D)
        self.add(node, self.call("nn.ZeroPad2d", _torch_pad(layer.padding)))

    def conv_padding(self, node: Node) -> tuple[int, int]:
        """The padding argument of a convolution: its resolved padding when symmetric,
        else (0, 0) behind a ZeroPad2d step in front."""
        assert node.padding is not None
        symmetric = _symmetric(node.padding)
        if symmetric is not None:
            return symmetric
        pad = self.call("nn.ZeroPad2d", _torch_pad(node.padding))
        self.add(node, pad, attr=self.helper_name(node, "pad"))
        return (0, 0)

    def lower_depthwise_conv2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, DepthwiseConv2D)
        channels = node.input_shapes[0][2]
        padding = self.conv_padding(node)
        self.add(
            node,
            self.call(
                "nn.Conv2d",
                channels,
                channels * layer.depth_multiplier,
                kernel_size=layer.kernel_size,
                stride=layer.stride,
                padding=padding,
                dilation=layer.dilation,
                groups=channels,
                bias=layer.use_bias,
                padding_mode="zeros",
            ),
        )
        self.activation(node, layer.activation)

    def lower_separable_conv2d(self, node: Node) -> None:
        """Two modules, as Keras' one layer computes: '<name>_depthwise' (the window, no
        bias), then the 1x1 pointwise '<name>' with the bias, which gives the output."""
        layer = node.layer
        assert isinstance(layer, SeparableConv2D)
        channels = node.input_shapes[0][2]
        padding = self.conv_padding(node)
        own = self.attr(node)
        depthwise = self.helper_name(node, "depthwise")
        if depthwise != f"{own}_depthwise":
            # Weight transfer finds the depthwise kernel at '<name>_depthwise'.
            self.unsupported(
                node,
                f"a depthwise step beside another layer named {own + '_depthwise'!r}",
                "rename that layer: the PyTorch target names the depthwise step so",
            )
        if own in self.scope.renames:  # a block-local name that is no Python name
            self.scope.renames[depthwise] = self.scope.renames[own] + "_depthwise"
        mid = channels * layer.depth_multiplier
        self.add(
            node,
            self.call(
                "nn.Conv2d",
                channels,
                mid,
                kernel_size=layer.kernel_size,
                stride=layer.stride,
                padding=padding,
                dilation=layer.dilation,
                groups=channels,
                bias=False,
                padding_mode="zeros",
            ),
            attr=depthwise,
        )
        self.add(
            node,
            self.call("nn.Conv2d", mid, layer.filters, kernel_size=1, bias=layer.use_bias),
        )
        self.activation(node, layer.activation)

    def lower_rescaling(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Rescaling)
        self.out.helpers.add("Rescaling")
        self.add(node, self.call("Rescaling", scale=layer.scale, offset=layer.offset))

    def lower_normalization(self, node: Node) -> None:
        """Fixed values stay numbers in the code; adaptable state becomes the buffers
        mean, variance and count of the `Normalization` helper (Keras' three weights)."""
        layer = node.layer
        assert isinstance(layer, Normalization)
        if layer.adaptable:
            self.out.helpers.add("Normalization")
            call = self.call("Normalization", node.output[-1], eps=NORMALIZATION_EPSILON)
        else:
            self.out.helpers.add("FixedNormalization")
            call = self.call(
                "FixedNormalization",
                mean=layer.mean,
                variance=layer.variance,
                eps=NORMALIZATION_EPSILON,
            )
        self.add(node, call)

    def lower_conv2d_transpose(self, node: Node) -> None:
        """nn.ConvTranspose2d keeps ``full[p : full - p + output_padding]`` of its full
        output per axis; the spec's crop (``node.padding``) is (before, after). So ``p`` is
        the crop before, and an end that keeps more rows is ``output_padding``; an end that
        keeps fewer (Keras' 'same', odd crop) is cropped by the `ConvTranspose2dSame` helper.
        """
        layer = node.layer
        assert isinstance(layer, Conv2DTranspose) and node.padding is not None
        (top, bottom), (left, right) = node.padding
        output_padding = (max(top - bottom, 0), max(left - right, 0))
        end_crop = (max(bottom - top, 0), max(right - left, 0))
        # PyTorch takes output_padding < max(stride, dilation). It is <= the spec's
        # output_padding or stride - kernel extent (`conv_transpose_crop`), both < stride.
        assert all(output_padding[a] < max(layer.stride[a], layer.dilation[a]) for a in (0, 1))
        module = "nn.ConvTranspose2d"
        extra: dict[str, object] = {}
        if end_crop != (0, 0):
            module = "ConvTranspose2dSame"
            self.out.helpers.add(module)
            extra = {"crop": end_crop}
        self.add(
            node,
            self.call(
                module,
                node.input_shapes[0][2],
                layer.filters,
                kernel_size=layer.kernel_size,
                stride=layer.stride,
                padding=(top, left),
                output_padding=output_padding,
                dilation=layer.dilation,
                bias=layer.use_bias,
                **extra,
            ),
        )
        self.activation(node, layer.activation)

    @staticmethod
    def keepdims(node: Node) -> bool:
        layer = node.layer
        assert isinstance(layer, GlobalAvgPool2D | GlobalMaxPool2D)
        return layer.keepdims

    def lower_upsample2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, UpSample2D)
        if layer.interpolation == "bilinear":
            # Half-pixel centres, as Keras (TensorFlow's resize) samples.
            call = self.call(
                "nn.Upsample", scale_factor=layer.size, mode="bilinear", align_corners=False
            )
        else:
            # Row i repeats input row floor((i + 0.5) / s): exact for every integer factor.
            # mode="nearest" computes floor(i * (1 / s)) in floating point and picks the
            # wrong row for some factors (41, 47, 55, ...).
            call = self.call("nn.Upsample", scale_factor=layer.size, mode="nearest-exact")
        self.add(node, call)

    def lower_reshape(self, node: Node) -> None:
        """Reshape in the spec's channels-last order, as Keras does on NHWC: the input is
        permuted to NHWC, reshaped (with the batch axis), and an [H, W, C] result is
        permuted back to NCHW. The -1 of the spec is resolved."""
        assert isinstance(node.layer, Reshape)
        self.out.helpers.add("Reshape")
        call = self.call("Reshape", node.output, permute=channels_first(len(node.output)))
        self.add(node, call, before=channels_last(len(node.input_shapes[0])))

    def lower_cropping2d(self, node: Node) -> None:
        layer = node.layer
        assert isinstance(layer, Cropping2D)
        self.out.helpers.add("Crop2d")
        self.add(node, self.call("Crop2d", cropping=layer.cropping))
