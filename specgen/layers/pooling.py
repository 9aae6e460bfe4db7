"""max_pool2d and avg_pool2d: schema and shape rule.

Padded positions never take part in the result: max ignores them and avg divides by
the count of real pixels, as Keras' ``padding="same"`` does. The targets must
reproduce exactly that.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.formulas import dropped_by_window
from specgen.layers.base import (
    Inferred,
    IntPair,
    LayerBase,
    Padding,
    Shape,
    ShapeIssue,
    Window,
    require_rank,
)
from specgen.layers.conv2d import resolve_window


class _Pool2D(LayerBase):
    pool_size: IntPair = Field(
        description="Pooling window height and width: an int or [h, w].", examples=[2, [3, 3]]
    )
    stride: IntPair | None = Field(
        default=None,
        description="Step of the window over H and W: an int or [h, w]; default: pool_size.",
        examples=[2, [2, 1]],
    )
    padding: Padding = Field(
        default="valid",
        description="'valid' (none), 'same', an int, [ph, pw] or [[top, bottom], [left, right]]; "
        "padded positions never count; default 'valid'.",
        examples=["same", 1],
    )

    @property
    def strides(self) -> tuple[int, int]:
        """The stride in force: ``stride`` if given, else ``pool_size``."""
        return self.stride or self.pool_size

    def infer(self, inputs: list[Shape]) -> Inferred:
        shape = require_rank(
            inputs, 3, hint=f"{self.kind} works on [H, W, C]; remove the flatten or dense before it"
        )
        (h, w), pads, formulas = resolve_window(
            shape, self.pool_size, self.strides, self.padding, (1, 1), what="pool window"
        )
        warnings = []
        if self.padding != "same":
            dropped = [
                dropped_by_window(shape[a], self.pool_size[a], self.strides[a], sum(pads[a]), 1)
                for a in (0, 1)
            ]
            if any(dropped):
                warnings.append(
                    ShapeIssue(
                        "SG301",
                        f"pool window {self.pool_size[0]}x{self.pool_size[1]} with stride "
                        f"{self.strides[0]}x{self.strides[1]} drops the last {dropped[0]} "
                        f"row(s) and {dropped[1]} column(s) of its {shape[0]}x{shape[1]} input",
                        hint="use padding: same to keep them, or pad the input first",
                        field="pool_size",
                    )
                )
        for a, name in ((0, "top/bottom"), (1, "left/right")):
            if max(pads[a]) >= self.pool_size[a] and self.padding != "same":
                raise ShapeIssue(
                    "SG201",
                    f"padding {list(pads[a])} on {name} is not smaller than the pool window "
                    f"{self.pool_size[a]}: some windows would see padding only",
                    hint="use padding smaller than pool_size",
                    field="padding",
                )
        return Inferred(
            output=(h, w, shape[2]),
            padding=pads,
            window=Window(
                kernel=self.pool_size, stride=self.strides, pad_before=(pads[0][0], pads[1][0])
            ),
            formulas=formulas,
            warnings=warnings,
        )


class MaxPool2D(_Pool2D):
    """Max pooling; padded positions are ignored."""

    type: Literal["max_pool2d"] = Field(description="Layer type: max_pool2d.")


class AvgPool2D(_Pool2D):
    """Average pooling; the average is over real pixels only, never padding."""

    type: Literal["avg_pool2d"] = Field(description="Layer type: avg_pool2d.")


class _GlobalPool2D(LayerBase):
    keepdims: bool = Field(
        default=False,
        description="Output [1, 1, C] instead of [C]; default false.",
        examples=[True],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        h, w, c = require_rank(
            inputs, 3, hint=f"{self.kind} works on [H, W, C]; it already makes a flat output"
        )
        if not self.keepdims:
            return Inferred(output=(c,))
        # The one output pixel sees the whole input: a pooling window of the input's size.
        return Inferred(
            output=(1, 1, c), window=Window(kernel=(h, w), stride=(h, w), pad_before=(0, 0))
        )


class GlobalAvgPool2D(_GlobalPool2D):
    """Mean over H and W: [H, W, C] -> [C], or [1, 1, C] with keepdims."""

    type: Literal["global_avg_pool2d"] = Field(description="Layer type: global_avg_pool2d.")


class GlobalMaxPool2D(_GlobalPool2D):
    """Max over H and W: [H, W, C] -> [C], or [1, 1, C] with keepdims."""

    type: Literal["global_max_pool2d"] = Field(description="Layer type: global_max_pool2d.")
