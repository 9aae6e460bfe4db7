"""Known bugs of the frameworks the targets emit for, as conditions on shape-annotated nodes.

specgen's shape pass and both emitted models can be right while a framework computes a
layer wrongly. The Keras target reports the geometries below as warnings (SG303, SG304)
so that nobody trains a silently wrong model; the conditions are read off the node alone
and import no framework. Each is pinned by a test that runs the framework
(tests/test_tensorflow_conv_bug.py, tests/test_keras_bias_add_bug.py): when a release
fixes the bug, that test fails and says to drop the warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from specgen.graph import Node
from specgen.layers import Conv2D

# The releases the warnings were established on (the test extra pins them).
TENSORFLOW_CONV2D_BUG = "TensorFlow 2.21"
KERAS_BIAS_ADD_BUG = "Keras 3 (3.7 and later) on the TensorFlow backend"


def tensorflow_conv2d_bug(node: Node) -> bool:
    """TensorFlow's CPU conv2d is reported to return wrong values (off by up to 1e15, or
    NaN, changing between calls) for one input channel, vertical stride 1, horizontal
    stride > 1, output width 1, output height >= 2 and kernel width >= 2."""
    layer = node.layer
    if not isinstance(layer, Conv2D):
        return False
    stride, kernel = layer.stride, layer.kernel_size
    return (
        node.input_shapes[0][-1] == 1
        and stride[0] == 1
        and stride[1] > 1
        and node.output[1] == 1
        and node.output[0] >= 2
        and kernel[1] >= 2
    )


@dataclass(frozen=True, slots=True)
class Conv2dRewrite:
    """The same conv2d written so that it avoids `tensorflow_conv2d_bug`: the input cut
    to its first `keep` columns (a cropping2d removing `crop` on the right), then the
    layer with `stride` and explicit `padding`."""

    keep: int
    crop: int
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]

    def hint(self) -> str:
        steps = []
        if self.crop:
            steps.append(
                f"put {{type: cropping2d, cropping: [[0, 0], [0, {self.crop}]]}} before it "
                f"(it reads input columns 0..{self.keep - 1} only)"
            )
        (top, bottom), (left, right) = self.padding
        padding = (
            f" and padding [[{top}, {bottom}], [{left}, {right}]]"
            if any((top, bottom, left, right))
            else " and padding valid"
        )
        steps.append(f"use stride [{self.stride[0]}, 1]{padding}")
        return "; ".join(steps) + ": same values and parameters, a geometry TensorFlow gets right"


def conv2d_bug_rewrite(node: Node) -> Conv2dRewrite:
    """With output width 1 the window reads only its first ``kw`` padded columns, so
    stride 1 over exactly those columns computes the same values."""
    layer = node.layer
    assert isinstance(layer, Conv2D) and node.padding is not None
    (top, bottom), (left, _) = node.padding
    width, kernel_width = node.input_shapes[0][1], layer.kernel_size[1]
    keep = min(width, kernel_width - left)  # the input columns the window reads
    right = kernel_width - left - keep
    return Conv2dRewrite(keep, width - keep, (layer.stride[0], 1), ((top, bottom), (left, right)))


def keras_bias_add_batches(node: Node) -> list[int]:
    """The batch sizes at which Keras' TensorFlow backend computes this ``add`` or
    ``average`` merge wrongly (`bias_add_batches` of its input shapes)."""
    if node.kind not in ("add", "average"):
        return []
    return bias_add_batches(node.input_shapes)


def bias_add_batches(shapes: list[tuple[int, ...]]) -> list[int]:
    """The batch sizes at which adding tensors of these (per-sample) shapes pairwise from
    the first, as Keras' merge layers do, takes Keras' wrong `tf.nn.bias_add` path.

    ``keras.ops.add(x1, x2)`` takes ``tf.nn.bias_add(x1, squeeze(x2))`` whenever x2 has a
    single axis larger than 1 (the batch axis included) whose size equals x1's axis 1 or
    last axis, and adds along the last axis if the sizes match there, else along axis 1.
    A step is wrong when that adds along another axis than broadcasting would, or when x2
    is larger than x1. Only batch 1 and the sizes of the axes can take the path.

    >>> bias_add_batches([(4, 4, 3), (1, 1, 1)])  # a per-sample scalar: batch 3 or 4
    [3, 4]
    >>> bias_add_batches([(4, 4, 3), (1, 1, 3)])  # a real bias: right at every batch size
    []
    """
    if len(set(shapes)) == 1:
        return []
    sizes = {n for shape in shapes for n in shape}
    return [batch for batch in sorted({1} | sizes) if _bias_add_wrong(shapes, batch)]


def _bias_add_wrong(shapes: list[tuple[int, ...]], batch: int) -> bool:
    batched = [(batch, *shape) for shape in shapes]
    x1 = batched[0]
    for x2 in batched[1:]:
        large = [axis for axis, n in enumerate(x2) if n > 1]
        out = tuple(max(a, b) for a, b in zip(x1, x2, strict=True))
        if len(large) == 1 and x2[large[0]] in (x1[1], x1[-1]):
            along = len(x1) - 1 if x1[-1] == x2[large[0]] else 1
            if out != x1 or large[0] != along:
                return True
        x1 = out
    return False
