"""Merge layers: element-wise add, subtract, multiply, average, maximum, minimum, and
concatenate. Schema and shape rules.

Element-wise merges broadcast NumPy-style over inputs of equal rank: on each axis the
sizes are equal or 1 (``[H, W, C] * [1, 1, C]`` for squeeze-and-excitation). Both
frameworks broadcast the same way on the emitted layouts, because NHWC -> NCHW is a
permutation of the axes: an axis of size 1 stays an axis of size 1.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from specgen.formulas import broadcast_shapes, concatenate_output_shape
from specgen.layers.base import Inferred, LayerBase, Shape, ShapeIssue

_AXES = {3: ("H", "W", "C"), 1: ("N",)}


def axis_label(axis: int, rank: int) -> str:
    """``2 (C)`` for the channel axis of an [H, W, C] shape."""
    names = _AXES.get(rank)
    return f"{axis} ({names[axis]})" if names else str(axis)


def equal_rank(kind: str, inputs: list[Shape], hint: str) -> int:
    """The inputs' common rank; SG207 (with every input shown) when they differ."""
    ranks = sorted({len(shape) for shape in inputs})
    if len(ranks) > 1:
        raise ShapeIssue(
            "SG207",
            f"{kind} needs inputs of equal rank, got ranks {ranks}",
            hint=hint,
            show_inputs=True,
        )
    return ranks[0]


class _ElementWise(LayerBase):
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None

    def infer(self, inputs: list[Shape]) -> Inferred:
        rank = equal_rank(
            self.kind,
            inputs,
            hint="flatten or pool the [H, W, C] input first, or merge only like with like",
        )
        output, axis = broadcast_shapes(inputs)
        if output is None:
            sizes = sorted({shape[axis] for shape in inputs if shape[axis] != 1})
            raise ShapeIssue(
                "SG207",
                f"{self.kind} cannot broadcast axis {axis_label(axis, rank)}: sizes "
                f"{sizes} (each axis must be equal or 1)",
                hint="make the shapes agree, e.g. with a 1x1 conv2d for channels or pooling "
                "for H and W",
                show_inputs=True,
            )
        return Inferred(output=output)


class Add(_ElementWise):
    """Element-wise sum of two or more inputs."""

    type: Literal["add"] = Field(description="Layer type: add.")


class Subtract(_ElementWise):
    """The first input minus the second (exactly two inputs)."""

    type: Literal["subtract"] = Field(description="Layer type: subtract.")
    max_inputs: ClassVar[int | None] = 2


class Multiply(_ElementWise):
    """Element-wise product of two or more inputs."""

    type: Literal["multiply"] = Field(description="Layer type: multiply.")


class Average(_ElementWise):
    """Element-wise mean of two or more inputs."""

    type: Literal["average"] = Field(description="Layer type: average.")


class Maximum(_ElementWise):
    """Element-wise maximum of two or more inputs."""

    type: Literal["maximum"] = Field(description="Layer type: maximum.")


class Minimum(_ElementWise):
    """Element-wise minimum of two or more inputs."""

    type: Literal["minimum"] = Field(description="Layer type: minimum.")


class Concatenate(LayerBase):
    """Joins two or more inputs along `axis` (channels-last, no batch axis); every other
    axis must match."""

    type: Literal["concatenate"] = Field(description="Layer type: concatenate.")
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    axis: int = Field(
        default=-1,
        strict=True,
        ge=-3,
        le=2,
        description="Axis to join along, in the channels-last shape without the batch axis; "
        "default -1 (C).",
        examples=[-1],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        rank = equal_rank(self.kind, inputs, hint="flatten or pool the [H, W, C] input first")
        if not -rank <= self.axis < rank:
            raise ShapeIssue(
                "SG208",
                f"axis {self.axis} is out of range for rank-{rank} inputs "
                f"(valid: {-rank} to {rank - 1})",
                hint="for [H, W, C], axis -1 or 2 is C, 0 is H and 1 is W; for [N], use 0 or -1",
                field="axis",
            )
        axis = self.axis % rank
        output, bad = concatenate_output_shape(inputs, axis)
        if output is None:
            raise ShapeIssue(
                "SG207",
                f"concatenate along axis {axis_label(axis, rank)} needs every other axis "
                f"equal, but axis {axis_label(bad, rank)} differs",
                hint="pool, crop or pad the inputs to the same size, or concatenate along "
                "another axis",
                field="axis" if "axis" in self.model_fields_set else None,
                show_inputs=True,
            )
        return Inferred(output=output)
