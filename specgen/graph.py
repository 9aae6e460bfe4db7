"""The shape-annotated graph: names resolved, inputs wired, every node's shapes and costs known.

The graph is general from the start (named inputs, a topological order) although the
first wave of layer types is single-input: merges only add layer types, not a new core.
The shape pass runs each layer's own rule (`LayerBase.infer`) and re-raises its
findings with the node's identity and source position, like torch.fx's ShapeProp.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from specgen.diagnostics import Diagnostic, JsonPath, Severity
from specgen.layers import LayerBase, Pads, Shape, ShapeIssue, Window
from specgen.layers.base import ShapeSpec
from specgen.load import Document
from specgen.spec import ParsedSpec

INPUT = "input"


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """Per axis (h, w): window size in input pixels, jump (input pixels between
    neighbouring outputs) and the centre of the first output's window (0 = centre of
    the first input pixel; negative reaches into padding)."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]

    def through(self, window: Window) -> ReceptiveField:
        size, jump, start = [], [], []
        for a in (0, 1):
            k, s, p = window.kernel[a], window.stride[a], window.pad_before[a]
            size.append(self.size[a] + (k - 1) * self.jump[a])
            jump.append(self.jump[a] * s)
            start.append(self.start[a] + ((k - 1) / 2 - p) * self.jump[a])
        return ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1]))


INPUT_FIELD = ReceptiveField((1, 1), (1, 1), (0.0, 0.0))


@dataclass(slots=True)
class Node:
    name: str
    layer: LayerBase | None  # None for the model input
    index: int | None  # position in the spec's `layers`, None for the input
    inputs: list[str]
    input_shapes: list[Shape]
    output: Shape
    padding: Pads | None = None
    params: int = 0
    non_trainable: int = 0
    macs: int = 0
    receptive_field: ReceptiveField | None = None

    @property
    def kind(self) -> str:
        return self.layer.kind if self.layer is not None else INPUT

    @property
    def total_params(self) -> int:
        return self.params + self.non_trainable


@dataclass(slots=True)
class Graph:
    name: str
    input_shape: Shape
    nodes: dict[str, Node] = field(default_factory=dict)  # in topological order

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def layers(self) -> Iterator[Node]:
        return (n for n in self.nodes.values() if n.layer is not None)

    @property
    def output(self) -> Node:
        return list(self.nodes.values())[-1]

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


def layer_names(layers: list[tuple[str | None, str]]) -> list[str]:
    """Each layer's name: its own, or ``<type>_<n>`` counted per type, skipping taken names.

    `layers` holds (explicit name or None, type) per layer.

    >>> layer_names([(None, "conv2d"), ("conv2d_2", "conv2d"), (None, "conv2d")])
    ['conv2d_1', 'conv2d_2', 'conv2d_3']
    """
    taken = {name for name, _ in layers if name is not None}
    counters: dict[str, int] = {}
    names = []
    for name, kind in layers:
        if name is not None:
            names.append(name)
            continue
        while True:
            counters[kind] = counters.get(kind, 0) + 1
            candidate = f"{kind}_{counters[kind]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


def _raw_identity(raw: object) -> tuple[str | None, str]:
    """(name, type) of a layer that failed the schema, as far as they can be trusted."""
    if not isinstance(raw, dict):
        return None, "layer"
    name, kind = raw.get("name"), raw.get("type")
    valid_name = name if isinstance(name, str) and name.isidentifier() else None
    return valid_name, kind if isinstance(kind, str) and kind.isidentifier() else "layer"


_SHAPE = TypeAdapter[Shape](ShapeSpec)


def _raw_expect(raw: object) -> Shape | None:
    """The `expect` of a layer that failed the schema, if that one field is valid."""
    if not isinstance(raw, dict) or "expect" not in raw:
        return None
    try:
        return _SHAPE.validate_python(raw["expect"])
    except ValidationError:
        return None


def _inputs_of(layer: LayerBase, index: int, names: list[str]) -> list[str]:
    """A layer's inputs: its own `inputs`, else the previous layer (the model input first)."""
    return layer.inputs or [INPUT if index == 0 else names[index - 1]]


def build_graph(parsed: ParsedSpec, document: Document) -> tuple[Graph | None, list[Diagnostic]]:
    """Wire the layers into a graph and run the shape pass.

    The graph is None on any error, the schema's included: a graph is only ever built
    from a fully valid spec.

    Layers that failed the schema (None in ``parsed.layers``) are holes: layers after them
    are still checked when the hole has a valid ``expect`` to stand in for its output.
    """
    diagnostics: list[Diagnostic] = []
    identities = [
        (layer.name, layer.kind) if layer is not None else _raw_identity(raw)
        for layer, raw in zip(parsed.layers, parsed.raw_layers, strict=True)
    ]
    names = layer_names(identities)
    kinds = [kind for _, kind in identities]

    def located(index: int, key: str | None, code: str, message: str, **kw: object) -> None:
        raw = document.data["layers"][index]
        path: JsonPath = ("layers", index)
        if key is not None and isinstance(raw, dict) and key in raw:
            path = (*path, key)
        diagnostics.append(
            Diagnostic(
                code,
                f"layer {names[index]!r} ({kinds[index]}): {message}",
                json_path=path,
                position=document.locate(path),
                **kw,  # type: ignore[arg-type]
            )
        )

    first_index: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first_index:
            located(
                index,
                "name",
                "SG107",
                f"name {name!r} is already used by layers[{first_index[name]}]",
                hint="layer names must be unique in a file",
            )
        else:
            first_index[name] = index

    if parsed.input_shape is None:
        return None, diagnostics
    graph = Graph(parsed.name, parsed.input_shape)
    graph.nodes[INPUT] = Node(
        INPUT,
        None,
        None,
        [],
        [],
        parsed.input_shape,
        receptive_field=INPUT_FIELD if len(parsed.input_shape) == 3 else None,
    )
    failed: set[str] = set()
    # Stand-in outputs of layers that failed, taken from their `expect`.
    stand_ins: dict[str, Shape] = {}
    for index, layer in enumerate(parsed.layers):
        name = names[index]
        if layer is None:
            failed.add(name)
            expect = _raw_expect(parsed.raw_layers[index])
            if expect is not None and name not in stand_ins:
                stand_ins[name] = expect
            continue
        inputs = _inputs_of(layer, index, names)
        wiring_ok = True
        for ref in inputs:
            if ref == INPUT or (ref in first_index and first_index[ref] < index):
                continue
            wiring_ok = False
            if ref in first_index:
                problem = f"input {ref!r} comes at layers[{first_index[ref]}], after this layer"
                hint = "a layer can only take inputs from layers before it"
            else:
                problem = f"input {ref!r} is not a layer name"
                close = difflib.get_close_matches(ref, [INPUT, *names[:index]], n=1)
                hint = f"did you mean {close[0]!r}?" if close else "use 'input' or an earlier name"
            located(index, "inputs", "SG108", problem, hint=hint)
        if wiring_ok and len(inputs) != layer.arity:
            located(
                index,
                "inputs",
                "SG109",
                f"takes {layer.arity} input(s), got {len(inputs)}",
                hint="merges of several inputs come with merge layer types",
            )
            wiring_ok = False
        if not wiring_ok or name in graph.nodes or name in failed:
            failed.add(name)
            continue
        if any(ref in failed and ref not in stand_ins for ref in inputs):
            failed.add(name)
            continue
        in_shapes = [stand_ins[r] if r in stand_ins else graph.nodes[r].output for r in inputs]
        try:
            result = layer.infer(in_shapes)
        except ShapeIssue as issue:
            located(index, issue.field, issue.code, issue.message, hint=issue.hint)
            failed.add(name)
            if layer.expect is not None:
                stand_ins[name] = layer.expect
            continue
        for warning in result.warnings:
            located(
                index,
                warning.field,
                warning.code,
                warning.message,
                hint=warning.hint,
                severity=Severity.WARNING,
            )
        if layer.expect is not None and layer.expect != result.output:
            located(
                index,
                "expect",
                "SG202",
                _expect_message(layer.expect, result.output, result.formulas),
                hint=f"the shape pass computes {list(result.output)}: fix the layer or 'expect'",
            )
        if any(ref in failed for ref in inputs):
            failed.add(name)  # checked against a stand-in: not part of a real graph
            stand_ins[name] = result.output
            continue
        sources = [graph.nodes[ref] for ref in inputs]
        graph.nodes[name] = Node(
            name,
            layer,
            index,
            list(inputs),
            in_shapes,
            result.output,
            padding=result.padding,
            params=result.params,
            non_trainable=result.non_trainable,
            macs=result.macs,
            receptive_field=_receptive_field(sources[0], result.output, result.window),
        )
    _check_all_used(parsed, names, located)
    invalid = parsed.spec is None or failed
    if invalid or any(d.severity is Severity.ERROR for d in diagnostics):
        return None, diagnostics
    return graph, diagnostics


def _check_all_used(parsed: ParsedSpec, names: list[str], located: Callable[..., None]) -> None:
    """Every layer but the last must feed another: the model has exactly one output."""
    used = set()
    for index, layer in enumerate(parsed.layers):
        if layer is None:
            return  # wiring of a broken layer is unknown: do not guess
        used.update(_inputs_of(layer, index, names))
    for index, name in enumerate(names[:-1]):
        if name not in used:
            located(
                index,
                None,
                "SG110",
                "its output is never used: the model's only output is the last layer",
                hint="feed it to a later layer through 'inputs', or remove it",
            )


def _receptive_field(source: Node, output: Shape, window: Window | None) -> ReceptiveField | None:
    incoming = source.receptive_field
    if incoming is None or len(output) != 3:
        return None
    return incoming if window is None else incoming.through(window)


def _expect_message(expect: Shape, output: Shape, formulas: tuple[str, ...]) -> str:
    message = f"output shape {list(output)} does not match expect {list(expect)}"
    if formulas:
        message += f": H = {formulas[0]}, W = {formulas[1]}"
    return message
