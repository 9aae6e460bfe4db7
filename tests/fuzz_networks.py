"""Random *valid* specgen networks, for the differential test (tests/test_differential.py).

`networks()` is a Hypothesis strategy. Each example is a whole spec: every layer type,
every padding form, strides, dilations and groups, odd and tiny sizes (1x1 and rank-1
inputs), graphs (fan-out, broadcasting merges, concatenate along any axis, several
outputs) and blocks (parameters, ``repeat``, nested uses, ``{i}`` names, instance names
and expanded inner names used as inputs).

Networks are valid by construction: the generator tracks every value's shape with its
own shape rules (`infer`, written from the README's formulas, apart from specgen's), and
keeps away from what the Keras target refuses (SG401: explicit pooling padding other
than 'same''s, stride with dilation, unequal depthwise strides) and from dilated
transposed convolutions (TensorFlow's CPU kernel has none). Sizes stay small (H, W <= 24,
C <= 16) so that each network builds and runs in well under a second.

Choices are ordered simplest first, so Hypothesis shrinks a failure towards a short spec
with plain layers; `Network.yaml` is that spec as a file a person can read and commit.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from math import prod
from typing import Any

from hypothesis import strategies as st

Shape = tuple[int, ...]

MAX_HW = 24  # H and W of every value
MAX_C = 16  # channels of every rank-3 value
MAX_FEATURES = 256  # size of every rank-1 value
MAX_LAYERS = 28  # expanded layers per network (a soft budget)
MAX_BLOCKS = 3
MAX_BLOCK_DEPTH = 2  # a block may use a block, which may not use another

# Every activation name specgen accepts (the test checks this against specgen's list).
ACTIVATIONS = [
    "relu",
    "linear",
    "relu6",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "swish",
    "elu",
    "leaky_relu",
    "hard_sigmoid",
    "hard_swish",
    "softmax",
]
RANK3_ACTIVATIONS = [a for a in ACTIVATIONS if a != "softmax"]  # softmax: rank 1 only
ELEMENTWISE = ["add", "subtract", "multiply", "average", "maximum", "minimum"]
MERGES = [*ELEMENTWISE, "concatenate"]

# Simplest first: Hypothesis shrinks towards the front of each list.
RANK3_TYPES = [
    "activation",
    "batch_norm",
    "dropout",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "global_max_pool2d",
    "flatten",
    "zero_padding2d",
    "cropping2d",
    "depthwise_conv2d",
    "separable_conv2d",
    "conv2d_transpose",
    "upsample2d",
    "reshape",
    "rescaling",
    "normalization",
]
RANK1_TYPES = [
    "activation",
    "dense",
    "batch_norm",
    "dropout",
    "rescaling",
    "normalization",
    "reshape",
]
CONVOLUTIONS = {"conv2d", "depthwise_conv2d", "separable_conv2d"}  # explicit padding too
RANK3_TO_RANK1 = {"flatten", "global_avg_pool2d", "global_max_pool2d"}
# How often each type is picked, relative to 1 (the convolutions are what a CNN is).
WEIGHTS = {
    "conv2d": 4,
    "depthwise_conv2d": 2,
    "separable_conv2d": 2,
    "conv2d_transpose": 2,
    "max_pool2d": 2,
    "avg_pool2d": 2,
    "upsample2d": 2,
}
# Every layer type the generator makes (the test checks it against specgen's registry).
LAYER_TYPES = sorted({*RANK3_TYPES, *RANK1_TYPES, *MERGES})

SHORT = {
    "conv2d": "conv",
    "max_pool2d": "maxp",
    "avg_pool2d": "avgp",
    "global_avg_pool2d": "gap",
    "global_max_pool2d": "gmp",
    "flatten": "flat",
    "dense": "fc",
    "dropout": "drop",
    "batch_norm": "bn",
    "activation": "act",
    "zero_padding2d": "pad",
    "add": "add",
    "subtract": "sub",
    "multiply": "mul",
    "average": "avg",
    "maximum": "max",
    "minimum": "min",
    "concatenate": "cat",
    "depthwise_conv2d": "dw",
    "separable_conv2d": "sep",
    "conv2d_transpose": "up_conv",
    "upsample2d": "up",
    "reshape": "resh",
    "cropping2d": "crop",
    "rescaling": "scale",
    "normalization": "norm",
}

# Block fields that may become a `$param`.
PARAM_FIELDS = (
    "filters",
    "units",
    "kernel_size",
    "stride",
    "padding",
    "activation",
    "rate",
    "pool_size",
    "size",
    "depth_multiplier",
    "interpolation",
    "cropping",
    "scale",
    "keepdims",
)


class Invalid(Exception):
    """A layer that does not fit its input, or leaves the generator's size limits."""


# --- shape rules (the generator's own) -----------------------------------------------------


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _pads(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """int, [ph, pw] or [[top, bottom], [left, right]] -> ((top, bottom), (left, right))."""
    if isinstance(value, int):
        return ((value, value), (value, value))
    if isinstance(value[0], int):
        return ((value[0], value[0]), (value[1], value[1]))
    return ((value[0][0], value[0][1]), (value[1][0], value[1][1]))


def same_pads(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same': output ceil(n / s), the odd pixel at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return (total // 2, total - total // 2)


def _window(shape: Shape, kernel: Any, stride: Any, padding: Any, dilation: Any) -> list[int]:
    k, s, d = _pair(kernel), _pair(stride), _pair(dilation)
    outs = []
    for a in (0, 1):
        n = shape[a]
        if padding == "same":
            outs.append(-(-n // s[a]))
        else:
            p = 0 if padding == "valid" else sum(_pads(padding)[a])
            outs.append((n + p - d[a] * (k[a] - 1) - 1) // s[a] + 1)
    if min(outs) < 1:
        raise Invalid("the window does not fit")
    return outs


def transpose_size(n: int, k: int, s: int, padding: str, op: int | None) -> int:
    """Keras' Conv2DTranspose output size (dilation 1)."""
    if op is None:
        return n * s if padding == "same" else n * s + max(k - s, 0)
    if padding == "same":
        return (n - 1) * s + k % 2 + op
    return (n - 1) * s + k + op


def _rank(shape: Shape, rank: int) -> None:
    if len(shape) != rank:
        raise Invalid(f"rank {len(shape)}, wanted {rank}")


def _per_channel(value: Any, channels: int) -> None:
    if isinstance(value, list) and len(value) != channels:
        raise Invalid("per-channel list of the wrong length")


def _merge(layer: dict[str, Any], shapes: list[Shape]) -> Shape:
    kind = layer["type"]
    if len(shapes) < 2 or (kind == "subtract" and len(shapes) != 2):
        raise Invalid("merge arity")
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise Invalid("merge of unequal ranks")
    (rank,) = ranks
    if kind == "concatenate":
        axis = layer.get("axis", -1)
        if not -rank <= axis < rank:
            raise Invalid("axis")
        axis %= rank
        for a in range(rank):
            if a != axis and len({s[a] for s in shapes}) != 1:
                raise Invalid("concatenate: other axes differ")
        return tuple(sum(s[a] for s in shapes) if a == axis else shapes[0][a] for a in range(rank))
    out = []
    for a in range(rank):
        sizes = {s[a] for s in shapes} - {1}
        if len(sizes) > 1:
            raise Invalid("cannot broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def infer(layer: dict[str, Any], shapes: list[Shape]) -> Shape:
    """The output shape of a concrete layer (no `$params`), or `Invalid`."""
    try:
        out = _infer(layer, shapes)
    except (TypeError, ValueError, IndexError, KeyError) as error:  # a field's type
        raise Invalid(f"{type(error).__name__}: {error}") from None
    if len(out) == 3:
        if out[0] > MAX_HW or out[1] > MAX_HW or out[2] > MAX_C:
            raise Invalid(f"too large: {out}")
    elif out[0] > MAX_FEATURES:
        raise Invalid(f"too large: {out}")
    if min(out) < 1:
        raise Invalid(f"empty: {out}")
    return out


def _infer(layer: dict[str, Any], shapes: list[Shape]) -> Shape:
    kind = layer["type"]
    if kind in MERGES:
        return _merge(layer, shapes)
    if len(shapes) != 1:
        raise Invalid("one input")
    (shape,) = shapes
    act = layer.get("activation", "linear")
    if act == "softmax" and kind != "dense" and len(shape) != 1:
        raise Invalid("softmax on rank 3")
    if kind in ("dropout", "batch_norm", "activation"):
        return shape
    if kind == "rescaling":
        _per_channel(layer["scale"], shape[-1])
        _per_channel(layer.get("offset", 0.0), shape[-1])
        return shape
    if kind == "normalization":
        _per_channel(layer.get("mean"), shape[-1])
        _per_channel(layer.get("variance"), shape[-1])
        return shape
    if kind == "dense":
        _rank(shape, 1)
        return (layer["units"],)
    if kind == "reshape":
        target = list(layer["target_shape"])
        count = prod(shape)
        known = prod(n for n in target if n != -1)
        if -1 in target:
            if count % known:
                raise Invalid("reshape -1")
            target[target.index(-1)] = count // known
        elif known != count:
            raise Invalid("reshape count")
        return tuple(target)
    _rank(shape, 3)
    h, w, c = shape
    if kind == "flatten":
        return (h * w * c,)
    if kind in ("global_avg_pool2d", "global_max_pool2d"):
        return (1, 1, c) if layer.get("keepdims", False) else (c,)
    if kind == "zero_padding2d":
        (t, b), (left, right) = _pads(layer["padding"])
        return (h + t + b, w + left + right, c)
    if kind == "cropping2d":
        (t, b), (left, right) = _pads(layer["cropping"])
        return (h - t - b, w - left - right, c)
    if kind == "upsample2d":
        sh, sw = _pair(layer.get("size", 2))
        return (h * sh, w * sw, c)
    if kind in ("max_pool2d", "avg_pool2d"):
        pool = _pair(layer["pool_size"])
        stride = _pair(layer.get("stride", pool))
        padding = layer.get("padding", "valid")
        if padding not in ("valid", "same"):
            pads = _pads(padding)
            same = tuple(same_pads(shape[a], pool[a], stride[a]) for a in (0, 1))
            if pads not in (((0, 0), (0, 0)), same):  # Keras pools with 'valid' or 'same'
                raise Invalid("explicit pooling padding Keras cannot express")
        oh, ow = _window(shape, pool, stride, padding, 1)
        return (oh, ow, c)
    if kind in ("conv2d", "depthwise_conv2d", "separable_conv2d"):
        stride, dilation = _pair(layer.get("stride", 1)), _pair(layer.get("dilation", 1))
        if max(stride) > 1 and max(dilation) > 1:
            raise Invalid("stride with dilation")  # SG205, or SG401 for Keras' Conv2D
        if kind == "conv2d":
            groups = layer.get("groups", 1)
            if c % groups or layer["filters"] % groups:
                raise Invalid("groups")
            channels = layer["filters"]
        else:
            if stride[0] != stride[1]:
                raise Invalid("unequal depthwise strides")  # SG401 for Keras
            dm = layer.get("depth_multiplier", 1)
            channels = c * dm if kind == "depthwise_conv2d" else layer["filters"]
        oh, ow = _window(
            shape, layer["kernel_size"], stride, layer.get("padding", "valid"), dilation
        )
        return (oh, ow, channels)
    if kind == "conv2d_transpose":
        if _pair(layer.get("dilation", 1)) != (1, 1):
            raise Invalid("dilated transposed convolution")  # no TensorFlow CPU kernel
        k, s = _pair(layer["kernel_size"]), _pair(layer.get("stride", 1))
        padding = layer.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise Invalid("a transposed convolution takes 'valid' or 'same'")
        op = layer.get("output_padding")
        ops = (None, None) if op is None else _pair(op)
        for a in (0, 1):
            if ops[a] is not None:
                if ops[a] >= s[a]:
                    raise Invalid("output_padding >= stride")
                if padding == "same" and k[a] % 2 == 0 and ops[a] == 0:
                    raise Invalid("output_padding 0, 'same', even kernel")
        oh, ow = (transpose_size(shape[a], k[a], s[a], padding, ops[a]) for a in (0, 1))
        return (oh, ow, layer["filters"])
    raise AssertionError(f"unknown layer type {kind}")


def broadcastable(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x == y or 1 in (x, y) for x, y in zip(a, b, strict=True))


# --- rendering -----------------------------------------------------------------------------

_PLAIN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*\Z")
_YAML_WORDS = {"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"}


def yaml_value(value: Any) -> str:
    """One value in YAML flow style (YAML 1.2 core schema, as specgen reads it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value if _PLAIN.match(value) and value not in _YAML_WORDS else json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(yaml_value(v) for v in value) + "]"


def to_yaml(spec: dict[str, Any], comment: str = "") -> str:
    lines = [f"# {line}" for line in comment.splitlines()]
    for key in ("specgen", "name", "input"):
        lines.append(f"{key}: {yaml_value(spec[key])}")
    if spec.get("blocks"):
        lines.append("blocks:")
        for name, block in spec["blocks"].items():
            lines.append(f"  {name}:")
            if block.get("params"):
                lines.append(f"    params: {yaml_value(block['params'])}")
            lines.append("    layers:")
            lines.extend(f"      - {yaml_value(item)}" for item in block["layers"])
    lines.append("layers:")
    lines.extend(f"  - {yaml_value(item)}" for item in spec["layers"])
    if "outputs" in spec:
        lines.append(f"outputs: {yaml_value(spec['outputs'])}")
    return "\n".join(lines) + "\n"


# --- the generator -------------------------------------------------------------------------


@dataclass(eq=False)
class Value:
    """Something a later item of the same scope can read."""

    ref: str  # the name that item writes in `inputs` or `outputs`
    shape: Shape
    owner: dict[str, Any] | None  # the item whose `name` must stay when `ref` is written
    uses: int = 0


@dataclass
class Block:
    name: str
    params: dict[str, Any]  # parameter -> default (None: required)
    items: list[dict[str, Any]]  # with `$params`
    values: dict[str, Any]  # the parameter values the body was generated with
    size: int  # expanded layers per instance
    kinds: dict[str, tuple[str, str]]  # parameter -> (layer type or 'block:NAME', field)


@dataclass
class Network:
    spec: dict[str, Any]
    yaml: str
    as_json: bool
    features: Counter[str]
    output_shapes: list[Shape]

    def __repr__(self) -> str:  # the spec itself is noted as YAML
        return f"Network({len(self.spec['layers'])} top-level items)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' printer
        printer.text(repr(self))


def _substitute(value: Any, bindings: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in bindings:
        return bindings[value[1:]]
    if isinstance(value, list):
        return [_substitute(v, bindings) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, bindings) for k, v in value.items()}
    return value


def _refs(item: dict[str, Any]) -> list[str]:
    refs = item["inputs"]
    return [refs] if isinstance(refs, str) else list(refs)


def instance_names(item: dict[str, Any]) -> list[str] | None:
    """The local instance names of a block use (None: unnamed)."""
    name, repeat = item.get("name"), item.get("repeat", 1)
    if name is None:
        return None
    if "{i}" in name:
        return [name.replace("{i}", str(i)) for i in range(1, repeat + 1)]
    if repeat > 1:
        return [f"{name}_{i}" for i in range(1, repeat + 1)]
    return [name]


class Scope:
    """The items of the top level or of one block body, and the values they make."""

    def __init__(self, gen: Generator, shape: Shape, depth: int) -> None:
        self.gen = gen
        self.depth = depth  # 0: the top level
        self.items: list[dict[str, Any]] = []
        self.input = Value("input", shape, None)
        self.values = [self.input]
        self.previous = self.input  # what an item without `inputs` reads
        self.cur = self.input  # the main path

    def refer(self, value: Value) -> str:
        if value.owner is not None:
            value.owner["_keep"] = True
        return value.ref

    def inputs_field(self, inputs: list[Value], item: dict[str, Any]) -> None:
        if len(inputs) == 1 and inputs[0] is self.previous:
            return
        refs = [self.refer(v) for v in inputs]
        item["inputs"] = refs[0] if len(refs) == 1 and self.gen.chance(3) else refs

    def add(self, layer: dict[str, Any], inputs: list[Value]) -> Value:
        """Append a layer (a dict without name or inputs) reading `inputs`."""
        shape = infer(layer, [v.shape for v in inputs])
        gen = self.gen
        kind = layer["type"]
        item: dict[str, Any] = {"type": kind, "name": gen.new_name(kind, self.depth)}
        self.inputs_field(inputs, item)
        item.update((k, v) for k, v in layer.items() if k != "type")
        if self.depth == 0 and gen.chance(8):
            item["expect"] = list(shape)
        for v in inputs:
            v.uses += 1
        if kind in ELEMENTWISE and len({v.shape for v in inputs}) > 1:
            gen.tag(f"merge_broadcast:{kind}")
        if len(inputs) > 1 and len({id(v) for v in inputs}) < len(inputs):
            gen.tag("merge_same_value_twice")
        gen.layer_count += 1
        self.items.append(item)
        value = Value(item["name"], shape, item)
        self.values.append(value)
        self.previous = value
        return value

    def finish(self) -> list[dict[str, Any]]:
        """The items, with the names nothing refers to removed (now and then kept)."""
        out = []
        for item in self.items:
            keep = item.pop("_keep", False)
            if not keep and "{i}" not in item.get("name", "") and not self.gen.chance(4):
                item.pop("name", None)
            out.append(item)
        return out


class Generator:
    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.features: Counter[str] = Counter()
        self.blocks: dict[str, Block] = {}
        self.layer_count = 0
        self.names = 0
        self.instances = 0
        self.defined = 0  # blocks defined or being defined

    # -- drawing

    def int(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, max(lo, hi))))

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def chance(self, n: int) -> bool:
        """True one time in `n` (shrinks to False)."""
        return bool(self.int(0, n - 1) == n - 1)

    def tag(self, feature: str) -> None:
        self.features[feature] += 1

    def new_name(self, kind: str, depth: int) -> str:
        self.names += 1
        short = SHORT[kind]
        if depth > 0 and self.chance(5):
            return f"{self.names}_{short}"  # a block-local name may start with a digit
        return f"{short}{self.names}"

    def pair(self, a: int, b: int) -> int | list[int]:
        return a if a == b and not self.chance(4) else [a, b]

    def padding_value(self, pads: tuple[tuple[int, int], tuple[int, int]]) -> Any:
        (t, b), (left, right) = pads
        if t == b == left == right and not self.chance(3):
            return t
        if t == b and left == right and not self.chance(3):
            return [t, left]
        return [[t, b], [left, right]]

    # -- the network

    def network(self) -> Network:
        draw_kind = self.int(0, 5)
        if draw_kind == 5:
            shape: Shape = (self.int(1, 16),)
            self.tag("input:rank1")
        else:
            h = self.int(1, 16)
            w = h if self.chance(2) else self.int(1, 16)
            shape = (h, w, self.int(1, 4))
            if (h, w) == (1, 1):
                self.tag("input:1x1")
        graph_mode = self.chance(3)  # a third; blocks hold merges too
        self.block_mode = self.chance(3) or self.chance(4)  # about 50%
        top = Scope(self, shape, 0)
        self.body(top, self.int(1, 8), graph_mode)
        if self.block_mode and not self.blocks:
            self.step_block(top)
        outputs = self.outputs(top)
        layers = top.finish()
        spec: dict[str, Any] = {"specgen": 1, "name": "fuzz", "input": {"shape": list(shape)}}
        if self.blocks:
            spec["blocks"] = {
                b.name: {"params": b.params, "layers": b.items} if b.params else {"layers": b.items}
                for b in self.blocks.values()
            }
        spec["layers"] = layers
        if outputs is not None:
            spec["outputs"] = [v.ref for v in outputs]
        out_shapes = [v.shape for v in outputs] if outputs else [top.previous.shape]
        as_json = self.chance(8)
        return Network(
            spec=spec,
            yaml=to_yaml(spec, "generated by tests/fuzz_networks.py"),
            as_json=as_json,
            features=self.features,
            output_shapes=out_shapes,
        )

    def outputs(self, top: Scope) -> list[Value] | None:
        dangling = [v for v in top.values[1:] if v.uses == 0]
        if dangling == [top.previous] and not self.chance(6):
            return None
        outs = list(dangling)
        extra = [v for v in top.values[1:] if v.uses > 0]
        if extra and self.chance(4):
            outs.append(self.pick(extra))
            self.tag("output_also_used")
        if len(outs) > 1:
            outs = list(self.draw(st.permutations(outs)))
            self.tag("several_outputs")
        for v in outs:
            top.refer(v)
        return outs

    def body(self, scope: Scope, steps: int, graph_mode: bool) -> None:
        kinds = ["layer", "layer", "layer"]
        if graph_mode or scope.depth > 0:
            kinds += ["residual", "gate", "concat", "skip"]
            if scope.depth == 0:
                kinds += ["branch"]
        if self.block_mode and scope.depth < MAX_BLOCK_DEPTH:
            kinds += ["block"] * (3 if scope.depth == 0 else 1)
        budget = MAX_LAYERS if scope.depth == 0 else 6
        for _ in range(steps):
            if self.layer_count >= budget and scope.items:
                break
            kind = self.pick(kinds)
            getattr(self, f"step_{kind}")(scope)

    # -- steps

    def step_layer(self, scope: Scope) -> None:
        scope.cur = scope.add(self.layer(scope.cur.shape), [scope.cur])

    def step_branch(self, scope: Scope) -> None:
        """A side branch from any earlier value: it becomes an output unless merged."""
        source = self.pick(scope.values)
        v = source
        for _ in range(self.int(1, 2)):
            v = scope.add(self.layer(v.shape), [v])
        self.tag("branch")

    def step_residual(self, scope: Scope) -> None:
        """x op f(x), f keeping H and W; f's channels are x's or 1 (broadcast)."""
        x = scope.cur
        target = 1 if self.chance(3) else x.shape[-1]
        branches = [self.same_branch(scope, x, target)]
        op = self.pick(ELEMENTWISE)
        if op != "subtract" and self.chance(4):
            second = 1 if self.chance(2) else x.shape[-1]
            branches.append(self.same_branch(scope, x, second) if self.chance(2) else x)
        inputs = [x, *branches]
        if self.chance(2):
            inputs = list(self.draw(st.permutations(inputs)))
        scope.cur = scope.add({"type": op}, inputs)

    def same_branch(self, scope: Scope, x: Value, channels: int) -> Value:
        v = x
        n = self.int(1, 3)
        for i in range(n):
            want = channels if i == n - 1 else None
            v = scope.add(self.layer(v.shape, keep_hw=True, channels=want), [v])
        return v

    def step_gate(self, scope: Scope) -> None:
        """A broadcasting merge: [H, W, C] with [1, 1, C], [H, 1, C] and [1, W, C], ..."""
        x = scope.cur
        op = self.pick(ELEMENTWISE)
        if len(x.shape) == 1:
            g = scope.add({"type": "dense", "units": 1, **self.activation_field(1)}, [x])
            self.merge(scope, op, [x, g])
            return
        h, w, c = x.shape
        form = self.pick(["squeeze", "dense", "pool", "rows_cols"])
        if form == "squeeze":
            kind = self.pick(["global_avg_pool2d", "global_max_pool2d"])
            g = scope.add({"type": kind, "keepdims": True}, [x])
            if self.chance(2):
                g = scope.add(
                    {"type": "conv2d", "filters": c, "kernel_size": 1, "activation": "sigmoid"},
                    [g],
                )
        elif form == "dense":
            kind = self.pick(["global_avg_pool2d", "global_max_pool2d"])
            g = scope.add({"type": kind}, [x])
            g = scope.add({"type": "dense", "units": c, **self.activation_field(1)}, [g])
            target = self.pick([[1, 1, c], [1, 1, -1], [-1, 1, c], [1, -1, c]])
            g = scope.add({"type": "reshape", "target_shape": target}, [g])
        elif form == "pool":
            kind = self.pick(["avg_pool2d", "max_pool2d"])
            g = scope.add({"type": kind, "pool_size": self.pair(h, w)}, [x])
        else:
            kind = self.pick(["avg_pool2d", "max_pool2d"])
            rows = scope.add({"type": kind, "pool_size": [1, w]}, [x])  # [H, 1, C]
            if self.chance(2):
                self.merge(scope, op, [x, rows])
                return
            cols = scope.add({"type": kind, "pool_size": [h, 1]}, [x])  # [1, W, C]
            self.merge(scope, op, [rows, cols])
            return
        self.merge(scope, op, [x, g])

    def merge(self, scope: Scope, op: str, inputs: list[Value]) -> None:
        if self.chance(2):
            inputs = list(self.draw(st.permutations(inputs)))
        scope.cur = scope.add({"type": op}, inputs)

    def step_concat(self, scope: Scope) -> None:
        x = scope.cur
        rank = len(x.shape)
        if rank == 1:
            axis_name = "N"
            limit = MAX_FEATURES
        else:
            axis_name = self.pick(["C", "H", "W"])
            limit = MAX_C if axis_name == "C" else MAX_HW
        axis_index = {"N": 0, "H": 0, "W": 1, "C": rank - 1}[axis_name]
        plans = []
        total = 0
        for i in range(self.int(2, 3)):
            plan = self.concat_plan(x, axis_name, limit - total)
            if plan is None:
                break
            plans.append(plan)
            total += plan[1]
            if i == 0 and total >= limit:
                break
        if len(plans) < 2:
            self.step_residual(scope)
            return
        inputs = []
        for layers, _size in plans:
            v = x
            for layer in layers:
                v = scope.add(layer, [v])
            inputs.append(v)
        choices = {
            "N": [None, 0, -1],
            "H": [0, -3],
            "W": [1, -2],
            "C": [None, -1, 2],
        }[axis_name]
        axis = self.pick(choices)
        layer: dict[str, Any] = {"type": "concatenate"}
        if axis is not None:
            layer["axis"] = axis
        self.tag(f"concat_axis:{axis_name}")
        assert all(v.shape[axis_index] >= 1 for v in inputs)
        scope.cur = scope.add(layer, inputs)

    def concat_plan(
        self, x: Value, axis: str, room: int
    ) -> tuple[list[dict[str, Any]], int] | None:
        """Layers from x whose output differs from x along `axis` only, and that size."""
        shape = x.shape
        if axis in ("N", "C"):
            if axis == "N":
                options = ["identity", "dense"]
            else:
                options = ["identity", "conv2d", "separable_conv2d", "depthwise_conv2d"]
            kind = self.pick(options)
            size = shape[-1]
            if kind == "identity":
                return ([], size) if size <= room else None
            if kind == "depthwise_conv2d":
                if 2 * size > room:
                    return None
                dm = self.int(1, 2) if 2 * size <= room else 1
                layer = {"type": kind, "kernel_size": self.int(1, 3), "padding": "same"}
                if dm > 1:
                    layer["depth_multiplier"] = dm
                return ([layer], size * dm)
            if room < 1:
                return None
            n = self.int(1, min(8, room))
            if kind == "dense":
                return ([{"type": "dense", "units": n}], n)
            k = self.int(1, 3)
            return ([{"type": kind, "filters": n, "kernel_size": k, "padding": "same"}], n)
        a = 0 if axis == "H" else 1
        n, c = shape[a], shape[2]

        def along(first: int, second: int) -> list[int]:
            return [first, second] if a == 0 else [second, first]

        kind = self.pick(
            ["identity", "cropping2d", "zero_padding2d", "conv2d", "max_pool2d", "upsample2d"]
        )
        if kind == "identity":
            return ([], n) if n <= room else None
        if kind == "cropping2d" and n > 1:
            t = self.int(0, min(2, n - 1))
            b = self.int(0, min(2, n - 1 - t))
            pads = [[t, b], [0, 0]] if a == 0 else [[0, 0], [t, b]]
            size = n - t - b
            return ([{"type": kind, "cropping": pads}], size) if size <= room else None
        if kind == "zero_padding2d":
            t, b = self.int(0, 2), self.int(0, 2)
            pads = [[t, b], [0, 0]] if a == 0 else [[0, 0], [t, b]]
            size = n + t + b
            return ([{"type": kind, "padding": pads}], size) if size <= room else None
        if kind == "conv2d":
            k = self.int(1, min(3, n))
            size = n - k + 1
            layer = {"type": kind, "filters": c, "kernel_size": along(k, 1)}
            return ([layer], size) if size <= room else None
        if kind == "max_pool2d" and n >= 2:
            size = n // 2
            return ([{"type": kind, "pool_size": along(2, 1)}], size) if size <= room else None
        if kind == "upsample2d":
            s = self.int(1, 3)
            size = n * s
            return ([{"type": kind, "size": along(s, 1)}], size) if size <= room else None
        return ([], n) if n <= room else None

    def step_skip(self, scope: Scope) -> None:
        """Merge the main path with an earlier value that fits (a long skip)."""
        x = scope.cur
        fits = [v for v in scope.values if v is not x and broadcastable(v.shape, x.shape)]
        joins = [
            v
            for v in scope.values
            if v is not x
            and len(v.shape) == len(x.shape)
            and v.shape[:-1] == x.shape[:-1]
            and v.shape[-1] + x.shape[-1] <= (MAX_C if len(x.shape) == 3 else MAX_FEATURES)
        ]
        if not fits and not joins:
            self.step_layer(scope)
            return
        if fits and (not joins or not self.chance(3)):
            other = self.pick(fits)
            op = self.pick(ELEMENTWISE)
            self.merge(scope, op, [x, other])
        else:
            other = self.pick(joins)
            self.merge(scope, "concatenate", [x, other])
        self.tag("skip")

    def step_block(self, scope: Scope) -> None:
        x = scope.cur
        usable = []
        for block in self.blocks.values():
            try:
                self.simulate(block, x.shape, block.values)
            except Invalid:
                continue
            usable.append(block)
        if usable and (self.defined >= MAX_BLOCKS or self.chance(2)):
            block = self.pick(usable)
            self.tag("block_reused")
        elif self.defined < MAX_BLOCKS:
            block = self.define_block(scope, x)
        else:
            self.step_layer(scope)
            return
        self.use_block(scope, block, x)

    # -- blocks

    def define_block(self, scope: Scope, x: Value) -> Block:
        self.defined += 1
        name = ["unit", "cell", "stage"][self.defined - 1]
        inner = Scope(self, x.shape, scope.depth + 1)
        count = self.layer_count
        self.body(inner, self.int(1, 4), True)
        size = self.layer_count - count
        self.layer_count = count  # counted again per instance by use_block
        items = inner.finish()
        params: dict[str, Any] = {}
        values: dict[str, Any] = {}
        kinds: dict[str, tuple[str, str]] = {}
        for item in items:
            target = item.get("with") if "block" in item else item
            if not target:
                continue
            kind = f"block:{item['block']}" if "block" in item else item["type"]
            for key in PARAM_FIELDS:
                if key not in target or not self.chance(3):
                    continue
                value = target[key]
                if isinstance(value, str) and value.startswith("$"):
                    continue
                pname = key
                n = 1
                # One parameter for the same field of the same layer type and value.
                while pname in values and (values[pname], kinds[pname]) != (value, (kind, key)):
                    n += 1
                    pname = f"{key}{n}"
                if pname not in values:
                    values[pname] = value
                    kinds[pname] = (kind, key)
                    params[pname] = None if self.chance(2) else value
                target[key] = f"${pname}"
                if "block" in item:
                    self.tag("block_param_passthrough")
        block = Block(name, params, items, values, max(size, 1), kinds)
        self.blocks[name] = block
        out, _ = self.simulate(block, x.shape, values)
        assert out == inner.previous.shape, (out, inner.previous.shape)
        if scope.depth > 0:
            self.tag("block_nested")
        return block

    def simulate(
        self, block: Block, shape: Shape, bindings: dict[str, Any]
    ) -> tuple[Shape, dict[str, Shape]]:
        """The output shape of one instance, and the shapes of its named layers (by their
        expanded name below the instance); `Invalid` if some layer does not fit."""
        env: dict[str, Shape] = {"input": shape}
        named: dict[str, Shape] = {}
        previous = shape
        for raw in block.items:
            item = _substitute(raw, bindings)
            source = [env[r] for r in _refs(item)] if "inputs" in item else [previous]
            if "block" in item:
                inner = self.blocks[item["block"]]
                given = item.get("with", {})
                inner_bindings = {p: given.get(p, d) for p, d in inner.params.items()}
                if any(v is None for v in inner_bindings.values()):
                    raise Invalid("missing block parameter")
                names = instance_names(item)
                (v,) = source
                for k in range(item.get("repeat", 1)):
                    v, sub = self.simulate(inner, v, inner_bindings)
                    if names is not None:
                        env[names[k]] = v
                        named[names[k]] = v
                        named.update((f"{names[k]}_{n}", s) for n, s in sub.items())
                if names is not None and len(names) > 1 and "{i}" not in item["name"]:
                    env[item["name"]] = v
                previous = v
                continue
            previous = infer(item, source)
            if "name" in item:
                env[item["name"]] = previous
                named[item["name"]] = previous
        return previous, named

    def use_block(self, scope: Scope, block: Block, x: Value) -> None:
        bindings = dict(block.values)
        given: dict[str, Any] = {}
        for p, default in block.params.items():
            if default is None:
                given[p] = bindings[p]
            if self.chance(3):
                new = self.other_value(block.kinds[p], bindings[p])
                trial = {**bindings, p: new}
                try:
                    self.simulate(block, x.shape, trial)
                except Invalid:
                    continue
                bindings[p] = new
                given[p] = new
                self.tag("block_with_override")
        repeat = self.int(1, 3)
        shapes = []
        v = x.shape
        for _ in range(repeat):
            try:
                v, named = self.simulate(block, v, bindings)
            except Invalid:
                break
            shapes.append((v, named))
        assert shapes, "the first instance always fits"
        repeat = len(shapes)
        self.instances += 1
        style = self.pick(["plain", "index"]) if repeat > 1 else "plain"
        name = f"s{self.instances}" if style == "plain" else f"s{self.instances}x{{i}}"
        item: dict[str, Any] = {"block": block.name, "name": name}
        if repeat > 1 or self.chance(5):
            item["repeat"] = repeat
        if given:
            item["with"] = given
        scope.inputs_field([x], item)
        x.uses += 1
        self.layer_count += block.size * repeat
        scope.items.append(item)
        names = instance_names(item)
        assert names is not None
        out = None
        same_as_output = self.output_names(block)
        for local, (shape, named) in zip(names, shapes, strict=True):
            out = Value(local, shape, item, uses=1)
            scope.values.append(out)
            if scope.depth == 0:  # inner layers are readable from the top level only
                for inner, inner_shape in named.items():
                    if inner not in same_as_output:  # `outputs` may not name a layer twice
                        scope.values.append(Value(f"{local}_{inner}", inner_shape, item, uses=1))
        assert out is not None
        out.uses = 0
        if repeat > 1 and style == "plain" and self.chance(2):
            out.ref = name  # `stage` alone means the last of stage_1..stage_N
            self.tag("block_alias_ref")
        scope.previous = scope.cur = out
        self.tag("block_use")
        if repeat > 1:
            self.tag(f"block_repeat:{style}")

    def output_names(self, block: Block) -> set[str]:
        """The names below an instance that stand for its output, its last layer (the
        last layer's own name, and a nested instance's names for its output)."""
        last = block.items[-1]
        if "block" not in last:
            return {last["name"]} if "name" in last else set()
        names = instance_names(last)
        if names is None:
            return set()
        inner = self.output_names(self.blocks[last["block"]])
        return {names[-1], *(f"{names[-1]}_{n}" for n in inner)}

    def other_value(self, kind: tuple[str, str], old: Any) -> Any:
        """Another value for a block parameter (`simulate` tells whether it fits)."""
        layer, key = kind
        if layer.startswith("block:"):  # passed on to the inner block's parameter
            return self.other_value(self.blocks[layer[6:]].kinds[key], old)
        if key in ("filters", "units"):
            return self.int(1, 8)
        if key == "activation":
            return self.pick(ACTIVATIONS)
        if key in ("kernel_size", "pool_size"):
            return self.int(1, 3)
        if key in ("stride", "size", "depth_multiplier"):
            return self.int(1, 2)
        if key == "padding" and layer == "zero_padding2d":
            return self.int(0, 2)
        if key == "padding":
            return self.pick(["same", "valid", 1] if layer in CONVOLUTIONS else ["same", "valid"])
        if key == "rate":
            return self.pick([0.0, 0.5])
        if key == "interpolation":
            return self.pick(["nearest", "bilinear"])
        if key == "cropping":
            return self.int(0, 1)
        if key == "scale" and layer == "rescaling":
            return self.pick([0.5, -2.0, 3])
        if key in ("keepdims", "scale"):
            return not old
        return old

    # -- layers

    def activation_field(self, rank: int) -> dict[str, Any]:
        if not self.chance(3):
            return {}
        act = self.pick(ACTIVATIONS if rank == 1 else RANK3_ACTIVATIONS)
        self.tag(f"activation:{act}")
        return {"activation": act}

    def bias_field(self) -> dict[str, Any]:
        return {"use_bias": False} if self.chance(4) else {}

    def layer(
        self, shape: Shape, *, keep_hw: bool = False, channels: int | None = None
    ) -> dict[str, Any]:
        """A layer on `shape`; keep_hw: the output keeps H and W (N for rank 1); channels:
        the output's channels (its size, for rank 1)."""
        if len(shape) == 1:
            types = RANK1_TYPES
            if keep_hw:
                types = [t for t in types if t != "reshape"]
            if channels is not None and channels != shape[0]:
                types = ["dense"]
        else:
            # Layers that make a rank-1 value end the convolutional part: now and then.
            flat = not keep_hw and self.chance(10)
            types = [t for t in RANK3_TYPES if (t in RANK3_TO_RANK1) == flat]
            if flat and shape[0] * shape[1] * shape[2] > MAX_FEATURES:
                types = [t for t in types if t != "flatten"]
            if channels is not None and channels != shape[2]:
                types = ["conv2d", "separable_conv2d", "conv2d_transpose", "depthwise_conv2d"]
                if channels % shape[2]:
                    types = types[:3]
            types = [t for t in types for _ in range(WEIGHTS.get(t, 1))]
        kind = self.pick(types)
        layer = getattr(self, f"make_{kind}")(shape, keep_hw, channels)
        if layer is None:  # this type cannot meet the constraints here
            if len(shape) == 3 and (channels is None or channels == shape[2]):
                layer = {"type": "activation", "activation": "relu"}
            elif len(shape) == 3:
                layer = {"type": "conv2d", "filters": channels, "kernel_size": 1}
            else:
                layer = {"type": "dense", "units": channels or shape[0]}
            self.tag("fallback")
        self.tag(f"type:{layer['type']}")
        return layer

    def window(
        self, shape: Shape, keep_hw: bool, *, equal_strides: bool, max_k: int = 4
    ) -> dict[str, Any]:
        """kernel_size, stride, dilation and padding of a sliding window that fits."""
        h, w = shape[0], shape[1]
        fields: dict[str, Any] = {}
        if keep_hw:
            dil = [self.int(1, 2) if self.chance(4) else 1 for _ in (0, 1)]
            k = [self.int(1, max_k), self.int(1, max_k)]
            if self.chance(2):
                padding: Any = "same"
                self.tag("padding:same")
            else:
                pads = []
                for a in (0, 1):
                    total = dil[a] * (k[a] - 1)
                    before = total // 2 if not self.chance(3) else self.int(0, total)
                    pads.append((before, total - before))
                padding = self.padding_value((pads[0], pads[1]))
                self.tag("padding:explicit_keep")
            stride = [1, 1]
        else:
            if self.chance(2):
                stride = [1, 1]
            else:
                s = self.int(1, 3)
                stride = [s, s if equal_strides or self.chance(2) else self.int(1, 3)]
            if max(stride) == 1 and self.chance(3):
                dil = [self.int(1, 3), self.int(1, 3)]
            else:
                dil = [1, 1]
            form = self.pick(["valid", "same", "int", "pair", "sides"])
            self.tag(f"padding:{form}")
            room = [MAX_HW - h, MAX_HW - w]
            if form == "int":
                p = self.int(0, min(2, room[0] // 2, room[1] // 2))
                pads2 = ((p, p), (p, p))
                padding = p
            elif form == "pair":
                ph, pw = self.int(0, min(2, room[0] // 2)), self.int(0, min(2, room[1] // 2))
                pads2 = ((ph, ph), (pw, pw))
                padding = [ph, pw]
            elif form == "sides":
                t = self.int(0, min(2, room[0]))
                b = self.int(0, min(2, room[0] - t))
                left = self.int(0, min(2, room[1]))
                right = self.int(0, min(2, room[1] - left))
                pads2 = ((t, b), (left, right))
                padding = [[t, b], [left, right]]
            else:
                pads2 = ((0, 0), (0, 0))
                padding = form
            k = []
            for a, n in enumerate((h, w)):
                if padding == "same":
                    k.append(self.int(1, max_k))
                else:
                    padded = n + sum(pads2[a])
                    k.append(self.int(1, min(max_k, (padded - 1) // dil[a] + 1)))
        fields["kernel_size"] = self.pair(k[0], k[1])
        if stride != [1, 1] or self.chance(8):
            fields["stride"] = self.pair(stride[0], stride[1])
        if padding != "valid" or self.chance(8):
            fields["padding"] = padding
        if dil != [1, 1] or self.chance(8):
            fields["dilation"] = self.pair(dil[0], dil[1])
            if dil != [1, 1]:
                self.tag("dilation")
        if stride[0] != stride[1]:
            self.tag("unequal_strides")
        return fields

    def make_conv2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> dict[str, Any]:
        c = shape[2]
        divisors = [g for g in range(2, c + 1) if c % g == 0]
        groups = self.pick(divisors) if divisors and self.chance(3) else 1
        if channels is not None:
            filters = channels
            groups = groups if filters % groups == 0 else 1
        else:
            filters = groups * self.int(1, max(1, 8 // groups))
        layer: dict[str, Any] = {"type": "conv2d", "filters": filters}
        layer.update(self.window(shape, keep_hw, equal_strides=False, max_k=5))
        if groups > 1 or self.chance(10):
            layer["groups"] = groups
            self.tag("groups")
        layer.update(self.bias_field())
        layer.update(self.activation_field(3))
        return layer

    def make_depthwise_conv2d(
        self, shape: Shape, keep_hw: bool, channels: int | None
    ) -> dict[str, Any] | None:
        c = shape[2]
        if channels is not None:
            if channels % c:
                return None
            dm = channels // c
        else:
            dm = self.int(1, 2) if 2 * c <= MAX_C else 1
        layer: dict[str, Any] = {"type": "depthwise_conv2d"}
        layer.update(self.window(shape, keep_hw, equal_strides=True))
        if dm != 1 or self.chance(8):
            layer["depth_multiplier"] = dm
        layer.update(self.bias_field())
        layer.update(self.activation_field(3))
        return layer

    def make_separable_conv2d(
        self, shape: Shape, keep_hw: bool, channels: int | None
    ) -> dict[str, Any]:
        filters = channels if channels is not None else self.int(1, 8)
        layer: dict[str, Any] = {"type": "separable_conv2d", "filters": filters}
        layer.update(self.window(shape, keep_hw, equal_strides=True))
        if self.chance(3):
            layer["depth_multiplier"] = self.int(1, 2)
        layer.update(self.bias_field())
        layer.update(self.activation_field(3))
        return layer

    def make_conv2d_transpose(
        self, shape: Shape, keep_hw: bool, channels: int | None
    ) -> dict[str, Any]:
        filters = channels if channels is not None else self.int(1, 8)
        k = [self.int(1, 4), self.int(1, 4)]
        if keep_hw:
            s = [1, 1]
            padding = "same"
            op: Any = None
            if k[0] % 2 and k[1] % 2 and self.chance(3):
                op = 0
        else:
            s = [1, 1] if self.chance(3) else [self.int(1, 3), self.int(1, 3)]
            padding = self.pick(["valid", "same"])
            op = None
            if self.chance(2):
                ops = []
                for a in (0, 1):
                    low = 1 if padding == "same" and k[a] % 2 == 0 else 0
                    if low > s[a] - 1:
                        break
                    ops.append(self.int(low, s[a] - 1))
                if len(ops) == 2:
                    op = self.pair(ops[0], ops[1])
                    self.tag("output_padding")
            size = [
                transpose_size(shape[a], k[a], s[a], padding, None if op is None else _pair(op)[a])
                for a in (0, 1)
            ]
            if max(size) > MAX_HW:
                s, padding, op = [1, 1], "same", None
        layer: dict[str, Any] = {"type": "conv2d_transpose", "filters": filters}
        layer["kernel_size"] = self.pair(k[0], k[1])
        if s != [1, 1] or self.chance(8):
            layer["stride"] = self.pair(s[0], s[1])
        if padding != "valid" or self.chance(8):
            layer["padding"] = padding
        if op is not None:
            layer["output_padding"] = op
        layer.update(self.bias_field())
        layer.update(self.activation_field(3))
        self.tag(f"transpose_padding:{padding}")
        return layer

    def _pool(self, kind: str, shape: Shape, keep_hw: bool) -> dict[str, Any]:
        h, w = shape[0], shape[1]
        layer: dict[str, Any] = {"type": kind}
        if keep_hw:
            pool = [self.int(1, 3), self.int(1, 3)]
            stride = [1, 1]
            form = self.pick(["same", "explicit_same"])
        else:
            form = self.pick(["valid", "same", "explicit_same", "zero"])
            if form in ("valid", "zero"):
                pool = [self.int(1, min(3, h)), self.int(1, min(3, w))]
            else:
                pool = [self.int(1, 3), self.int(1, 3)]
            stride = list(pool) if self.chance(2) else [self.int(1, 3), self.int(1, 3)]
        layer["pool_size"] = self.pair(pool[0], pool[1])
        if stride != pool or self.chance(8):
            layer["stride"] = self.pair(stride[0], stride[1])
        if form == "same":
            layer["padding"] = "same"
        elif form == "explicit_same":
            pads = (same_pads(h, pool[0], stride[0]), same_pads(w, pool[1], stride[1]))
            layer["padding"] = self.padding_value(pads)
        elif form == "zero":
            layer["padding"] = self.pick([0, [0, 0], [[0, 0], [0, 0]]])
        elif self.chance(8):
            layer["padding"] = "valid"
        self.tag(f"pool_padding:{form}")
        return layer

    def make_max_pool2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> dict[str, Any]:
        return self._pool("max_pool2d", shape, keep_hw)

    def make_avg_pool2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> dict[str, Any]:
        return self._pool("avg_pool2d", shape, keep_hw)

    def _global(self, kind: str) -> dict[str, Any]:
        layer: dict[str, Any] = {"type": kind}
        if self.chance(2):
            layer["keepdims"] = self.chance(3) is False
            self.tag(f"keepdims:{layer['keepdims']}")
        return layer

    def make_global_avg_pool2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        return self._global("global_avg_pool2d")

    def make_global_max_pool2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        return self._global("global_max_pool2d")

    def make_flatten(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        return {"type": "flatten"}

    def make_dense(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        units = channels if channels is not None else self.int(1, 8)
        layer: dict[str, Any] = {"type": "dense", "units": units}
        layer.update(self.bias_field())
        layer.update(self.activation_field(1))
        return layer

    def make_dropout(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        return {"type": "dropout", "rate": self.pick([0.5, 0.0, 0.1, 0.9])}

    def make_batch_norm(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        layer: dict[str, Any] = {"type": "batch_norm"}
        if self.chance(3):
            layer["epsilon"] = self.pick([1e-5, 0.01, 0.1, 1])
        if self.chance(3):
            layer["momentum"] = self.pick([0.9, 0.0, 1.0, 0.5])
        if self.chance(2):
            layer["center"] = self.chance(2) is False
        if self.chance(2):
            layer["scale"] = self.chance(2) is False
        self.tag(f"batch_norm:center={layer.get('center', True)},scale={layer.get('scale', True)}")
        self.tag(f"batch_norm:rank{len(shape)}")
        return layer

    def make_activation(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        act = self.pick(ACTIVATIONS if len(shape) == 1 else RANK3_ACTIVATIONS)
        self.tag(f"activation:{act}")
        return {"type": "activation", "activation": act}

    def make_zero_padding2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        if keep_hw:
            return {"type": "zero_padding2d", "padding": self.pick([0, [0, 0]])}
        h, w = shape[0], shape[1]
        t = self.int(0, min(2, MAX_HW - h))
        b = self.int(0, min(2, MAX_HW - h - t))
        left = self.int(0, min(2, MAX_HW - w))
        right = self.int(0, min(2, MAX_HW - w - left))
        return {"type": "zero_padding2d", "padding": self.padding_value(((t, b), (left, right)))}

    def make_cropping2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        if keep_hw:
            return {"type": "cropping2d", "cropping": self.pick([0, [0, 0]])}
        h, w = shape[0], shape[1]
        t = self.int(0, min(2, h - 1))
        b = self.int(0, min(2, h - 1 - t))
        left = self.int(0, min(2, w - 1))
        right = self.int(0, min(2, w - 1 - left))
        return {"type": "cropping2d", "cropping": self.padding_value(((t, b), (left, right)))}

    def make_upsample2d(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        layer: dict[str, Any] = {"type": "upsample2d"}
        if keep_hw:
            layer["size"] = self.pick([1, [1, 1]])
        else:
            s = [self.int(1, min(3, MAX_HW // n)) for n in shape[:2]]
            if s != [2, 2] or self.chance(4):
                layer["size"] = self.pair(s[0], s[1])
        if self.chance(2):
            layer["interpolation"] = self.pick(["bilinear", "nearest"])
            self.tag(f"interpolation:{layer['interpolation']}")
        return layer

    def make_reshape(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        count = prod(shape)
        if keep_hw:  # rank 3 (rank 1 never asks)
            target: list[int] = list(shape)
        else:
            options = []
            if count <= MAX_FEATURES:
                options.append([count])
            for c in range(1, MAX_C + 1):
                if count % c:
                    continue
                for h in range(1, MAX_HW + 1):
                    if (count // c) % h == 0 and count // c // h <= MAX_HW:
                        options.append([h, count // c // h, c])
            if not options:
                return None
            target = list(self.pick(options))
        if self.chance(3):
            target[self.int(0, len(target) - 1)] = -1
            self.tag("reshape:-1")
        return {"type": "reshape", "target_shape": target}

    def _numbers(self, channels: int, values: list[Any]) -> Any:
        if self.chance(2):
            self.tag("per_channel")
            return [self.pick(values) for _ in range(channels)]
        return self.pick(values)

    def make_rescaling(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        layer: dict[str, Any] = {"type": "rescaling"}
        layer["scale"] = self._numbers(shape[-1], [0.5, 2, -1.0, 0.25, 1])
        if self.chance(2):
            layer["offset"] = self._numbers(shape[-1], [0.5, -1, 0.0, 2.0])
        return layer

    def make_normalization(self, shape: Shape, keep_hw: bool, channels: int | None) -> Any:
        layer: dict[str, Any] = {"type": "normalization"}
        if self.chance(2):
            layer["mean"] = self._numbers(shape[-1], [0.5, 0, -1.0, 2])
            layer["variance"] = self._numbers(shape[-1], [1, 0.25, 2.0, 4])
            self.tag("normalization:fixed")
        else:
            self.tag("normalization:adaptable")
        return layer


@st.composite
def networks(draw: Any) -> Network:
    """A random valid specgen network (see the module docstring)."""
    return Generator(draw).network()
