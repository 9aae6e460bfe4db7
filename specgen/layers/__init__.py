"""The layer types: one module per type, each holding its schema and its shape rule.

`REGISTRY` lists every layer type once; `Layer` is the discriminated union on ``type``
built from it and `LAYER_TYPES` maps each ``type`` value to its model. Adding a layer
type means: a module here, an entry in `REGISTRY`, a ``lower_<type>`` per target, its
weights in specgen.transfer (if it has any), and a case file in tests/cases
(tests/test_registry.py fails until all are there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from specgen.layers.activation import Activation
from specgen.layers.base import Inferred, LayerBase, Pads, Shape, ShapeIssue, Window
from specgen.layers.batch_norm import BatchNorm
from specgen.layers.conv2d import Conv2D
from specgen.layers.conv2d_transpose import Conv2DTranspose
from specgen.layers.cropping2d import Cropping2D
from specgen.layers.dense import Dense
from specgen.layers.depthwise_conv2d import DepthwiseConv2D
from specgen.layers.dropout import Dropout
from specgen.layers.flatten import Flatten
from specgen.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from specgen.layers.normalization import Normalization
from specgen.layers.pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D
from specgen.layers.rescaling import Rescaling
from specgen.layers.reshape import Reshape
from specgen.layers.separable_conv2d import SeparableConv2D
from specgen.layers.upsample2d import UpSample2D
from specgen.layers.zero_padding2d import ZeroPadding2D

# The registry: every layer type, once. The discriminated union, LAYER_TYPES, the JSON
# Schema (through the union) and the README's layer table (specgen.docs) come from it.
REGISTRY: tuple[type[LayerBase], ...] = (
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
    DepthwiseConv2D,
    SeparableConv2D,
    Rescaling,
    Normalization,
    UpSample2D,
    Reshape,
    Cropping2D,
    Conv2DTranspose,
)

if TYPE_CHECKING:
    Layer = LayerBase
else:
    Layer = Annotated[Union[REGISTRY], Field(discriminator="type")]  # noqa: UP007

LAYER_TYPES: dict[str, type[LayerBase]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in REGISTRY
}

__all__ = [
    "LAYER_TYPES",
    "REGISTRY",
    "Activation",
    "Add",
    "Average",
    "AvgPool2D",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "Conv2DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
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
    "Normalization",
    "Pads",
    "Rescaling",
    "Reshape",
    "SeparableConv2D",
    "Shape",
    "ShapeIssue",
    "Subtract",
    "UpSample2D",
    "Window",
    "ZeroPadding2D",
]
