"""reshape: schema and shape rule.

The elements are taken in the spec's channels-last order (row-major over H, W, C) and
laid out again in that order, as Keras' Reshape does on NHWC. The PyTorch target
permutes NCHW to NHWC around the reshape, so both targets move the same numbers to the
same places. ``target_shape`` is rank 3 or 1 like every specgen shape.
"""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import Field

from specgen.formulas import reshape_output_shape
from specgen.layers.base import Inferred, LayerBase, Shape, ShapeIssue, TargetShape


class Reshape(LayerBase):
    """Lays the input's elements out as `target_shape` (channels-last; one size may be -1).

    ``[C] -> [1, 1, C]`` turns a squeeze-and-excitation vector into a gate that
    broadcasts over [H, W, C]. The receptive field is not defined after a reshape to
    [H, W, C].
    """

    type: Literal["reshape"] = Field(description="Layer type: reshape.")
    target_shape: TargetShape = Field(
        description="The output shape, channels-last: [H, W, C] or [N]; one size may be -1 "
        "(inferred).",
        examples=[[1, 1, -1], [-1]],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        output, count = reshape_output_shape(shape, self.target_shape)
        if output is None:
            target = list(self.target_shape)
            known = prod(n for n in target if n != -1)
            if -1 in target:
                problem = (
                    f"the -1 in {target} must be {count} / {known}, which is not a whole number"
                )
            else:
                problem = f"{target} holds {known} elements"
            raise ShapeIssue(
                "SG210",
                f"cannot reshape {list(shape)} ({count} elements): {problem}",
                hint=f"choose a target_shape whose sizes multiply to {count}, or write -1 "
                "for one size to infer it",
                field="target_shape",
            )
        # Output pixels of a reshape to [H, W, C] gather elements from anywhere.
        return Inferred(output=output, fixed_window=False)
