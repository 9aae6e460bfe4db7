"""The IR: a dataflow graph of named nodes, and the passes that build and annotate it.

A closed set of node kinds (torch.fx style): one ``input``, a ``layer`` per spec layer
and an ``output`` per model output. Every node knows its ordered named inputs, where it
came from in the file (`Origin`: JSON path and, for expanded blocks, the chain of block
uses) and, after the shape pass, its shapes, resolved padding, parameters, MACs and
receptive field.

`build_graph` runs one pass per concern, each reporting what it finds and handing the
next what it could establish:

1. `name_pass`: each layer's name (given or generated), duplicates (SG107);
2. `wiring_pass`: references in ``inputs``/``outputs`` (SG108) and arity (SG109);
3. `shape_pass`: each layer's own rule (`LayerBase.infer`), re-raised with the node's
   identity (SG2xx); layers that failed stand in with their ``expect``;
4. `expect_pass` (SG202) and `usage_pass` (SG110);
5. `receptive_field_pass`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from math import prod
from typing import Any

from pydantic import TypeAdapter, ValidationError

from specgen.diagnostics import Diagnostic, JsonPath, Severity
from specgen.expand import Origin, flat_identity, layer_names
from specgen.layers import Inferred, LayerBase, Pads, Shape, ShapeIssue, Window
from specgen.layers.base import ShapeIssues, ShapeSpec
from specgen.limits import DEFAULT_LIMITS, Limits
from specgen.load import Document
from specgen.spec import ParsedSpec
from specgen.suggest import Suggester

INPUT = "input"


class NodeKind(enum.StrEnum):
    INPUT = "input"
    LAYER = "layer"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """Per axis (h, w): window size in input pixels, jump (input pixels between
    neighbouring outputs) and the centre of the first output's window (`start`; 0 =
    centre of the first input pixel; negative reaches into padding).

    Exact arithmetic in ints: the window's first and last pixel centres are whole
    pixels, so the centre is kept doubled (`twice_start`, their sum) and `start` is a
    half-integer `Fraction` made only when shown. No stack of layers can overflow a
    float (35 strides of 2**31 - 1 make a jump of about 2**1085) or round a position,
    and the pass costs int operations only."""

    size: tuple[int, int]
    jump: tuple[int, int]
    twice_start: tuple[int, int]

    @classmethod
    def of(
        cls, size: tuple[int, int], jump: tuple[int, int], start: tuple[float, float]
    ) -> ReceptiveField:
        """From the start itself (a multiple of 1/2).

        >>> ReceptiveField.of((2, 2), (1, 1), (0.5, 0.5)).twice_start
        (1, 1)
        """
        twice = (Fraction(start[0]) * 2, Fraction(start[1]) * 2)
        if any(t.denominator != 1 for t in twice):
            raise ValueError(f"a window centre is a multiple of 1/2, got {start}")
        return cls(size, jump, (int(twice[0]), int(twice[1])))

    @property
    def start(self) -> tuple[Fraction, Fraction]:
        return (Fraction(self.twice_start[0], 2), Fraction(self.twice_start[1], 2))

    def through(self, window: Window) -> ReceptiveField:
        (k0, k1), (s0, s1), (p0, p1) = window.kernel, window.stride, window.pad_before
        (j0, j1), (n0, n1), (t0, t1) = self.jump, self.size, self.twice_start
        return ReceptiveField(
            (n0 + (k0 - 1) * j0, n1 + (k1 - 1) * j1),
            (j0 * s0, j1 * s1),
            (t0 + (k0 - 1 - 2 * p0) * j0, t1 + (k1 - 1 - 2 * p1) * j1),
        )

    @staticmethod
    def union(fields: list[ReceptiveField]) -> ReceptiveField | None:
        """The field of a merge: what any of its inputs sees, per output pixel.

        Well defined only when every input steps through the image alike (equal jump):
        then each output pixel sees the union of its inputs' windows, which are
        intervals centred on each input's start. Otherwise None (shown as ``-``).

        >>> a = ReceptiveField.of((3, 3), (1, 1), (1, 1))
        >>> b = ReceptiveField.of((5, 5), (1, 1), (2, 2))
        >>> ReceptiveField.union([a, b]) == b
        True
        >>> half = ReceptiveField.of((2, 2), (2, 2), (0.5, 0.5))
        >>> ReceptiveField.union([a, half]) is None
        True
        """
        if any(f.jump != fields[0].jump for f in fields):
            return None
        size, twice = [], []
        for a in (0, 1):
            # First and last pixel centres: whole numbers (twice_start and size - 1
            # have the same parity).
            low = min((f.twice_start[a] - (f.size[a] - 1)) // 2 for f in fields)
            high = max((f.twice_start[a] + (f.size[a] - 1)) // 2 for f in fields)
            size.append(high - low + 1)
            twice.append(low + high)
        return ReceptiveField((size[0], size[1]), fields[0].jump, (twice[0], twice[1]))


INPUT_FIELD = ReceptiveField((1, 1), (1, 1), (0, 0))


@dataclass(slots=True)
class Node:
    name: str
    node_kind: NodeKind
    layer: LayerBase | None  # None for the input and output nodes
    path: JsonPath  # in the flat (expanded) spec: ('layers', i); () for the input
    origin: Origin | None  # where the layer is written in the file
    inputs: list[str]
    input_shapes: list[Shape]
    output: Shape
    padding: Pads | None = None
    params: int = 0
    non_trainable: int = 0
    macs: int = 0
    receptive_field: ReceptiveField | None = None
    window: Window | None = None  # how an output pixel sees its input (None: pointwise)
    fixed_window: bool = True  # False: no receptive field from here on (`Inferred`)
    users: list[str] = field(default_factory=list)  # consumers, in order (outputs too)

    @property
    def kind(self) -> str:
        """The layer type, or the node kind for the input and outputs."""
        return self.layer.kind if self.layer is not None else self.node_kind.value

    @property
    def total_params(self) -> int:
        return self.params + self.non_trainable


@dataclass(slots=True)
class Graph:
    name: str
    input_shape: Shape
    nodes: dict[str, Node] = field(default_factory=dict)  # input and layers, topological
    output_nodes: list[Node] = field(default_factory=list)  # one per model output, in order

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def layers(self) -> Iterator[Node]:
        return (n for n in self.nodes.values() if n.node_kind is NodeKind.LAYER)

    @property
    def outputs(self) -> list[Node]:
        """The layer nodes whose values the model returns, in order."""
        return [self.nodes[o.inputs[0]] for o in self.output_nodes]

    @property
    def output(self) -> Node:
        """The first model output (the only one, for most networks)."""
        return self.outputs[0]

    @property
    def params(self) -> int:
        return sum(n.params for n in self)

    @property
    def non_trainable(self) -> int:
        return sum(n.non_trainable for n in self)

    @property
    def total_params(self) -> int:
        return self.params + self.non_trainable

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self)

    def is_chain(self) -> bool:
        """True when every layer reads exactly the one before it (a straight network)."""
        previous = INPUT
        for node in self.layers():
            if node.inputs != [previous]:
                return False
            previous = node.name
        return len(self.output_nodes) == 1 and self.output.name == previous


# --- passes ------------------------------------------------------------------------------------


class _Pass:
    """Shared state of one `build_graph` run: the parsed spec and the findings so far."""

    def __init__(self, parsed: ParsedSpec, document: Document, origins: list[Origin]) -> None:
        self.parsed = parsed
        self.document = document
        self.origins = origins
        self.diagnostics: list[Diagnostic] = []
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.suggester = Suggester()

    def did_you_mean(
        self, ref: str, choices: Callable[[], list[str]], size: int, fallback: str | None = None
    ) -> str:
        close = self.suggester.closest(ref, choices, size)
        if close:
            return f"did you mean {close!r}?"
        return fallback or "use 'input' or the name of an earlier layer"

    def report(
        self,
        index: int,
        key: str | tuple[str, int] | None,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        raw = self.document.data["layers"][index]
        path: JsonPath = ("layers", index)
        if isinstance(key, tuple):  # an entry of a list, e.g. ('inputs', 1)
            field, entry = key
            value = raw.get(field) if isinstance(raw, dict) else None
            if isinstance(value, list) and entry < len(value):
                path = (*path, field, entry)
            elif value is not None:
                path = (*path, field)
        elif key is not None and isinstance(raw, dict) and key in raw:
            path = (*path, key)
        self.diagnostics.append(
            Diagnostic(
                code,
                f"layer {self.names[index]!r} ({self.kinds[index]}): {message}",
                severity=severity,
                hint=hint,
                json_path=path,
                position=self.document.locate(path),
            )
        )


def name_pass(state: _Pass) -> dict[str, int]:
    """Every layer's name; the first index of each name (SG107 for the others)."""
    parsed = state.parsed
    identities = [
        (layer.name, layer.kind) if layer is not None else flat_identity(raw)
        for layer, raw in zip(parsed.layers, parsed.raw_layers, strict=True)
    ]
    state.names = layer_names(identities)
    state.kinds = [kind for _, kind in identities]
    first: dict[str, int] = {}
    for index, name in enumerate(state.names):
        if name in first:
            state.report(
                index,
                "name",
                "SG107",
                f"name {name!r} is already used by {_where(state, first[name])}",
                hint="layer names must be unique in a file (block layers expand to "
                "'<instance>_<name>')",
            )
        else:
            first[name] = index
    return first


def _where(state: _Pass, index: int) -> str:
    """How a message refers to another layer: its place in the file."""
    origin = state.origins[index] if index < len(state.origins) else None
    if origin is not None and origin.uses:
        return f"a layer of block instance {origin.uses[-1].instance!r}"
    path = origin.path if origin is not None else ("layers", index)
    position = state.document.locate(("layers", index))
    at = f" (line {position.line})" if position is not None else ""
    return f"layers[{path[-1]}]{at}" if len(path) == 2 else f"the layer at {path}{at}"


def wiring_pass(state: _Pass, first: dict[str, int]) -> list[list[str] | None]:
    """Each layer's inputs (None where the wiring is wrong, reported)."""
    parsed, names = state.parsed, state.names
    wired: list[list[str] | None] = []
    for index, layer in enumerate(parsed.layers):
        if layer is None:
            wired.append(None)
            continue
        refs = layer.inputs or [INPUT if index == 0 else names[index - 1]]
        ok = True
        for k, ref in enumerate(refs):
            if ref == INPUT or (ref in first and first[ref] < index):
                continue
            ok = False
            if ref == names[index]:
                problem = f"input {ref!r} is this layer itself"
                hint = "a layer can only take inputs from layers before it"
            elif ref in first:
                problem = f"input {ref!r} comes after this layer"
                hint = "a layer can only take inputs from layers before it"
            else:
                problem = f"input {ref!r} is not a layer name"
                hint = state.did_you_mean(ref, partial(_earlier, names, index), index + 1)
            state.report(index, ("inputs", k), "SG108", problem, hint=hint)
        if ok and not layer.min_inputs <= len(refs) <= (layer.max_inputs or len(refs)):
            state.report(
                index, "inputs", "SG109", _arity_problem(layer, len(refs)), hint=_arity_hint(layer)
            )
            ok = False
        wired.append(list(refs) if ok else None)
    return wired


def _earlier(names: list[str], index: int) -> list[str]:
    """What layer `index` may take as input: the model input and the layers before it."""
    return [INPUT, *names[:index]]


def _arity_problem(layer: LayerBase, got: int) -> str:
    low, high = layer.min_inputs, layer.max_inputs
    if high == low:
        want = f"exactly {low} input" + ("s" if low > 1 else "")
    elif high is None:
        want = f"at least {low} inputs"
    else:
        want = f"{low} to {high} inputs"
    return f"takes {want}, got {got}"


def _arity_hint(layer: LayerBase) -> str:
    if layer.max_inputs == 1:
        return "combine several inputs with a merge layer first (add, concatenate, ...)"
    return "list the layers to merge in 'inputs', e.g. inputs: [conv_a, conv_b]"


_SHAPE = TypeAdapter[Shape](ShapeSpec)


def _raw_expect(raw: object) -> Shape | None:
    """The `expect` of a layer that failed the schema, if that one field is valid."""
    if not isinstance(raw, dict) or "expect" not in raw:
        return None
    try:
        return _SHAPE.validate_python(raw["expect"])
    except ValidationError:
        return None


@dataclass(slots=True)
class _Shapes:
    outputs: dict[str, Shape] = field(default_factory=dict)  # checked against real inputs
    inferred: dict[int, Inferred] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # not part of a real graph
    stand_ins: dict[str, Shape] = field(default_factory=dict)  # failed, but `expect` known


def shape_pass(state: _Pass, wired: list[list[str] | None], input_shape: Shape) -> _Shapes:
    """Run each layer's shape rule on its inputs' shapes (or their stand-ins)."""
    parsed, names = state.parsed, state.names
    shapes = _Shapes(outputs={INPUT: input_shape})
    for index, layer in enumerate(parsed.layers):
        name, refs = names[index], wired[index]
        if layer is None or refs is None or name in shapes.outputs or name in shapes.failed:
            shapes.failed.add(name)
            expect = _raw_expect(parsed.raw_layers[index]) if layer is None else layer.expect
            if expect is not None and name not in shapes.stand_ins:
                shapes.stand_ins[name] = expect
            continue
        if any(r in shapes.failed and r not in shapes.stand_ins for r in refs):
            shapes.failed.add(name)
            continue
        in_shapes = [
            shapes.stand_ins[r] if r in shapes.stand_ins else shapes.outputs[r] for r in refs
        ]
        try:
            result = layer.infer(in_shapes)
        except (ShapeIssue, ShapeIssues) as error:
            issues = error.issues if isinstance(error, ShapeIssues) else [error]
            for issue in issues:
                message = issue.message
                if issue.show_inputs:
                    message += ": " + ", ".join(
                        f"{ref!r} {list(shape)}" for ref, shape in zip(refs, in_shapes, strict=True)
                    )
                state.report(index, issue.field, issue.code, message, hint=issue.hint)
            shapes.failed.add(name)
            if layer.expect is not None:
                shapes.stand_ins[name] = layer.expect
            continue
        for warning in result.warnings:
            state.report(
                index,
                warning.field,
                warning.code,
                warning.message,
                hint=warning.hint,
                severity=Severity.WARNING,
            )
        shapes.inferred[index] = result
        if any(r in shapes.failed for r in refs):
            shapes.failed.add(name)  # checked against a stand-in: not part of a real graph
            shapes.stand_ins[name] = result.output
            continue
        shapes.outputs[name] = result.output
    return shapes


def expect_pass(state: _Pass, shapes: _Shapes) -> None:
    for index, result in shapes.inferred.items():
        layer = state.parsed.layers[index]
        assert layer is not None
        if layer.expect is not None and layer.expect != result.output:
            state.report(
                index,
                "expect",
                "SG202",
                _expect_message(layer.expect, result.output, result.formulas),
                hint=f"the shape pass computes {list(result.output)}: fix the layer or 'expect'",
            )


def output_pass(state: _Pass, first: dict[str, int]) -> list[str] | None:
    """The model's outputs: top-level ``outputs``, else the last layer."""
    names = state.names
    wanted = state.parsed.outputs
    if wanted is None:
        return [names[-1]] if names else None
    ok, seen = True, set()
    for k, ref in enumerate(wanted):
        path: JsonPath = ("outputs", k)
        problem = None
        if ref == INPUT:
            ok = False  # the schema reports it: 'input' is reserved for the model input
        elif ref in seen:
            code, problem, hint = "SG107", f"outputs: {ref!r} is listed twice", "list it once"
        elif ref not in first:
            code, problem = "SG108", f"outputs: {ref!r} is not a layer name"
            hint = state.did_you_mean(
                ref, lambda: names, len(names), "list the names of layers (or block instances)"
            )
        seen.add(ref)
        if problem is not None:
            ok = False
            state.diagnostics.append(
                Diagnostic(
                    code,
                    problem,
                    hint=hint,
                    json_path=path,
                    position=state.document.locate(path),
                )
            )
    return list(wanted) if ok else None


def usage_pass(state: _Pass, wired: list[list[str] | None], outputs: list[str] | None) -> None:
    """Every layer feeds another layer or is a model output (SG110)."""
    if outputs is None or any(w is None for w in wired):
        return  # the wiring of a broken layer is unknown: do not guess
    used = {ref for refs in wired if refs is not None for ref in refs} | set(outputs)
    explicit = state.parsed.outputs is not None
    for index, name in enumerate(state.names):
        if name not in used:
            state.report(
                index,
                None,
                "SG110",
                "its output is never used and it is not a model output",
                hint="feed it to a later layer through 'inputs', list it in 'outputs', or remove it"
                if explicit
                else "feed it to a later layer through 'inputs', or list the model's outputs "
                "in a top-level 'outputs'",
            )


def receptive_field_pass(graph: Graph) -> None:
    """Through a window: `ReceptiveField.through`; pointwise: unchanged; merges: the union
    (`ReceptiveField.union`); anything else, or a rank-1 output: not defined."""
    for node in graph:
        if node.node_kind is NodeKind.INPUT:
            node.receptive_field = INPUT_FIELD if len(node.output) == 3 else None
            continue
        incoming = [graph.nodes[ref].receptive_field for ref in node.inputs]
        if len(node.output) != 3 or not node.fixed_window or any(f is None for f in incoming):
            continue
        fields = [f for f in incoming if f is not None]
        if len(fields) > 1:
            # Only where every input is aligned pixel for pixel with the output: a
            # broadcast [1, 1, C] input, or a concatenation along H or W, gives output
            # pixels whose fields are not the union (README: shown as '-').
            aligned = all(shape[:2] == node.output[:2] for shape in node.input_shapes)
            node.receptive_field = ReceptiveField.union(fields) if aligned else None
            continue
        window = node.window
        node.receptive_field = fields[0] if window is None else fields[0].through(window)


def limits_pass(state: _Pass, shapes: _Shapes, input_shape: Shape, limits: Limits) -> None:
    """SG211 where the network outgrows `limits`: once per limit, at the first tensor (the
    input or a layer's output) or the layer whose running total crosses it."""
    hint = "if the network is meant to be this large, raise the limit: --limit {}=N"
    widest, biggest = max(input_shape), prod(input_shape)
    if widest > limits.dimension or biggest > limits.elements:
        too_wide = widest > limits.dimension
        state.diagnostics.append(
            Diagnostic(
                "SG211",
                f"input.shape {list(input_shape)}: "
                + (
                    f"an axis of {widest:,}, over the limit of {limits.dimension:,}"
                    if too_wide
                    else f"{biggest:,} elements, over the limit of {limits.elements:,}"
                ),
                hint=hint.format("dimension" if too_wide else "elements"),
                json_path=("input", "shape"),
                position=state.document.locate(("input", "shape")),
            )
        )
        return  # every later tensor would repeat it
    # The layer count is checked before this pass: listed layers by `check._too_many_layers`
    # (before the schema), expanded ones by the block expansion (SG114).
    found: set[str] = set()
    params = macs = 0
    for index in sorted(shapes.inferred):
        result = shapes.inferred[index]
        output = result.output
        params += result.params + result.non_trainable
        macs += result.macs
        checks = (
            ("dimension", max(output, default=0), f"output shape {list(output)} has an axis of"),
            ("elements", prod(output), f"output shape {list(output)} has"),
            ("params", params, "the network's parameters reach"),
            ("macs", macs, "the network's multiply-accumulates reach"),
        )
        for name, value, what in checks:
            limit = getattr(limits, name)
            if name in found or value <= limit:
                continue
            found.add(name)
            unit = " elements" if name == "elements" else ""
            state.report(
                index,
                None,
                "SG211",
                f"{what} {value:,}{unit} at this layer, over the limit of {limit:,}",
                hint=hint.format(name),
            )


def build_graph(
    parsed: ParsedSpec,
    document: Document,
    origins: list[Origin] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[Graph | None, list[Diagnostic]]:
    """Run the passes. The graph is None on any error, the schema's included: a graph is
    only ever built from a fully valid spec (but every pass still reports what it finds)."""
    origins = (
        origins
        if origins is not None
        else [Origin(("layers", i)) for i in range(len(parsed.layers))]
    )
    state = _Pass(parsed, document, origins)
    first = name_pass(state)
    if parsed.input_shape is None:
        return None, state.diagnostics
    wired = wiring_pass(state, first)
    shapes = shape_pass(state, wired, parsed.input_shape)
    limits_pass(state, shapes, parsed.input_shape, limits)
    expect_pass(state, shapes)
    outputs = output_pass(state, first)
    usage_pass(state, wired, outputs)
    state.diagnostics.sort(key=lambda d: _order(d.json_path))
    invalid = parsed.spec is None or shapes.failed or outputs is None
    if invalid or any(d.severity is Severity.ERROR for d in state.diagnostics):
        return None, state.diagnostics
    assert outputs is not None
    return _assemble(state, wired, shapes, parsed.input_shape, outputs), state.diagnostics


def _order(path: JsonPath) -> tuple[Any, ...]:
    return (0, path[1]) if len(path) >= 2 and path[0] == "layers" else (1, 0)


def _assemble(
    state: _Pass,
    wired: list[list[str] | None],
    shapes: _Shapes,
    input_shape: Shape,
    outputs: list[str],
) -> Graph:
    graph = Graph(state.parsed.name, input_shape)
    graph.nodes[INPUT] = Node(INPUT, NodeKind.INPUT, None, (), None, [], [], input_shape)
    for index, layer in enumerate(state.parsed.layers):
        refs, result, name = wired[index], shapes.inferred[index], state.names[index]
        assert layer is not None and refs is not None
        graph.nodes[name] = Node(
            name,
            NodeKind.LAYER,
            layer,
            ("layers", index),
            state.origins[index],
            refs,
            [graph.nodes[r].output for r in refs],
            result.output,
            padding=result.padding,
            params=result.params,
            non_trainable=result.non_trainable,
            macs=result.macs,
            window=result.window,
            fixed_window=result.fixed_window,
        )
        for ref in refs:
            graph.nodes[ref].users.append(name)
    for k, name in enumerate(outputs):
        out = Node(
            f"output_{k}",
            NodeKind.OUTPUT,
            None,
            ("outputs", k),
            None,
            [name],
            [],
            graph.nodes[name].output,
        )
        graph.output_nodes.append(out)
        graph.nodes[name].users.append(out.name)
    receptive_field_pass(graph)
    return graph


def _expect_message(expect: Shape, output: Shape, formulas: tuple[str, ...]) -> str:
    message = f"output shape {list(output)} does not match expect {list(expect)}"
    if formulas:
        message += f": H = {formulas[0]}, W = {formulas[1]}"
    return message
