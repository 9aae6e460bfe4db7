"""The layer types: one module per type, each holding its schema and its shape rule.

`Layer` is the discriminated union on ``type``; `LAYER_TYPES` maps each ``type``
value to its model. Adding a layer type means: a module here, an entry below, one
template per target, and a case file in tests/cases.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from specgen.layers.activation import Activation
from specgen.layers.base import Inferred, LayerBase, Pads, Shape, ShapeIssue, Window
from specgen.layers.batch_norm import BatchNorm
from specgen.layers.conv2d import Conv2D
from specgen.layers.dense import Dense
from specgen.layers.dropout import Dropout
from specgen.layers.flatten import Flatten
from specgen.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from specgen.layers.pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D
from specgen.layers.zero_padding2d import ZeroPadding2D

Layer = Annotated[
    Conv2D
    | MaxPool2D
    | AvgPool2D
    | GlobalAvgPool2D
    | GlobalMaxPool2D
    | Flatten
    | Dense
    | Dropout
    | BatchNorm
    | Activation
    | ZeroPadding2D
    | Add
    | Subtract
    | Multiply
    | Average
    | Maximum
    | Minimum
    | Concatenate,
    Field(discriminator="type"),
]

LAYER_TYPES: dict[str, type[LayerBase]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        Conv2D,
        MaxPool2D,
        AvgPool2D,
        GlobalAvgPool2D,
        GlobalMaxPool2D,
        Flatten,
        Dense,
        Dropout,
        BatchNorm,
        Activation,
        ZeroPadding2D,
        Add,
        Subtract,
        Multiply,
        Average,
        Maximum,
        Minimum,
        Concatenate,
    )
}

# Layer types that combine several inputs (the targets lay them out as merges).
MERGE_TYPES = frozenset(
    {"add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"}
)

__all__ = [
    "LAYER_TYPES",
    "MERGE_TYPES",
    "Activation",
    "Add",
    "Average",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "Inferred",
    "Layer",
    "LayerBase",
    "MaxPool2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Pads",
    "Shape",
    "ShapeIssue",
    "Subtract",
    "Window",
    "ZeroPadding2D",
]
