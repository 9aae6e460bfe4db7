"""conv2d_transpose: schema and shape rule.

A transposed convolution scatters every input pixel through the kernel onto a grid
``stride`` times finer: its full output has ``(H - 1)*S + D*(F-1) + 1`` rows per axis.
``padding`` ('valid' or 'same', as Keras) and ``output_padding`` decide which window of
that full output is kept; `conv_transpose_crop` resolves them into rows cropped before
and after, which is what the targets need (PyTorch crops symmetrically only, so the odd
row of 'same' takes an emitted helper there). That crop is the node's resolved padding:
``((top, bottom), (left, right))`` cropped off, a negative amount being zero rows appended.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from specgen.diagnostics import show_value
from specgen.formulas import (
    conv_params,
    conv_transpose_crop,
    conv_transpose_output_size,
    effective_kernel_size,
    explain_conv_transpose_output_size,
)
from specgen.layers.base import (
    MAX_DIM,
    ActivationName,
    Inferred,
    IntPair,
    LayerBase,
    Pair,
    PositiveInt,
    Shape,
    ShapeIssue,
    _strict_int,
    activation_field,
    check_softmax,
    dilation_field,
    filters_field,
    kernel_size_field,
    raise_all,
    require_rank,
    use_bias_field,
)


def _transpose_padding(value: object) -> Literal["valid", "same"]:
    if value == "valid" or value == "same":
        return value
    if isinstance(value, str):
        code, message = "SG104", "expected padding 'valid' or 'same', got {got}"
        hint = "'valid' gives (H - 1)*S + max(K, S) rows, 'same' H*S rows"
    else:
        code, message = "SG103", "expected 'valid' or 'same', got {got}"
        hint = (
            "a transposed convolution takes no explicit padding (Keras' Conv2DTranspose has "
            "'valid' and 'same' only): use 'same' for H*S rows, output_padding to pick the "
            "size, or a cropping2d layer after it"
        )
    raise PydanticCustomError(code, message, {"got": show_value(value), "hint": hint})


def _output_padding(value: object) -> Pair | None:
    what = "a non-negative int"
    if value is None:
        return None
    if type(value) is int:
        n = _strict_int(value, minimum=0, what=what)
        return (n, n)
    if isinstance(value, list) and len(value) == 2:
        h = _strict_int(value[0], minimum=0, what=what, at=(0,))
        w = _strict_int(value[1], minimum=0, what=what, at=(1,))
        return (h, w)
    raise PydanticCustomError(
        "SG103",
        "expected {expected}, got {got}",
        {"expected": "a non-negative int or a list [h, w] of them", "got": show_value(value)},
    )


_NONNEG_INT = {"type": "integer", "minimum": 0, "maximum": MAX_DIM}

TransposePadding = Annotated[
    Literal["valid", "same"],
    PlainValidator(_transpose_padding),
    WithJsonSchema({"enum": ["valid", "same"]}),
]
# None (Keras' default: the output size follows from padding alone), an int or [h, w].
OutputPadding = Annotated[
    Pair | None,
    PlainValidator(_output_padding),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "null"},
                _NONNEG_INT,
                {"type": "array", "items": _NONNEG_INT, "minItems": 2, "maxItems": 2},
            ]
        }
    ),
]


class Conv2DTranspose(LayerBase):
    """Transposed 2-D convolution ("deconvolution") over an [H, W, C] input."""

    type: Literal["conv2d_transpose"] = Field(description="Layer type: conv2d_transpose.")
    filters: PositiveInt = filters_field()
    kernel_size: IntPair = kernel_size_field()
    stride: IntPair = Field(
        default=(1, 1),
        description="How many times finer the output grid is than the input: an int or [h, w]; "
        "default 1.",
        examples=[2, [2, 1]],
    )
    padding: TransposePadding = Field(
        default="valid",
        description="'valid' or 'same' (H*S rows), never explicit amounts; default 'valid'.",
        examples=["same"],
    )
    output_padding: OutputPadding = Field(
        default=None,
        description="Picks one of the stride's output sizes, 0 to stride - 1 per axis: an int or "
        "[h, w]; optional.",
        examples=[1, [1, 0]],
    )
    dilation: IntPair = dilation_field()
    use_bias: bool = use_bias_field()
    activation: ActivationName = activation_field()

    def axis_output_padding(self, axis: int) -> int | None:
        return None if self.output_padding is None else self.output_padding[axis]

    def check_output_padding(self) -> None:
        """What Keras refuses whatever the input. Stride > 1 with dilation > 1 is no spec
        error: as for conv2d, PyTorch takes it and only the Keras target refuses (SG401)."""
        if self.output_padding is None:
            return
        op, stride = list(self.output_padding), list(self.stride)
        if any(op[a] >= stride[a] for a in (0, 1)):
            raise ShapeIssue(
                "SG104",
                f"output_padding {op} must be smaller than the stride {stride} on each axis "
                "(Keras refuses it)",
                hint="output_padding picks one of the stride's output sizes: use 0 to "
                "stride - 1, or leave it out",
                field="output_padding",
            )
        extent = [effective_kernel_size(self.kernel_size[a], self.dilation[a]) for a in (0, 1)]
        even = [a for a in (0, 1) if extent[a] % 2 == 0 and op[a] == 0]
        if self.padding == "same" and even:
            raise ShapeIssue(
                "SG104",
                f"output_padding 0 on {'HW'[even[0]]} with padding 'same' and the even kernel "
                f"extent {extent[even[0]]}: (H - 1)*S rows, which a 'same' convolution maps "
                "back to H - 1 rows, not H (TensorFlow refuses it)",
                hint="leave output_padding out (H*S rows)"
                if stride[even[0]] == 1
                else "use output_padding 1 to stride - 1 on that axis, or leave it out (H*S rows)",
                field="output_padding",
            )

    def infer(self, inputs: list[Shape]) -> Inferred:
        issues = []
        try:
            self.check_output_padding()
        except ShapeIssue as issue:
            issues.append(issue)
        try:
            shape = require_rank(
                inputs,
                3,
                hint="conv2d_transpose works on [H, W, C]; remove the flatten or dense before it",
            )
        except ShapeIssue as issue:
            raise_all([*issues, issue])
            raise
        raise_all(issues)
        crops, outs, formulas = [], [], []
        for a in (0, 1):
            size, k, s, d = shape[a], self.kernel_size[a], self.stride[a], self.dilation[a]
            crop = conv_transpose_crop(k, s, d, self.padding, self.axis_output_padding(a))
            crops.append(crop)
            outs.append(conv_transpose_output_size(size, k, s, sum(crop), d))
            formulas.append(explain_conv_transpose_output_size(size, k, s, sum(crop), d))
        output = (outs[0], outs[1], self.filters)
        check_softmax(self.activation, output)
        channels = shape[2]
        kh, kw = self.kernel_size
        return Inferred(
            output=output,
            padding=(crops[0], crops[1]),
            params=conv_params(self.kernel_size, channels, self.filters, 1, self.use_bias),
            # Every input pixel is scattered through the whole kernel.
            macs=shape[0] * shape[1] * channels * self.filters * kh * kw,
            formulas=(formulas[0], formulas[1]),
            fixed_window=False,
        )
