"""``diagram``: the graph as a Mermaid flowchart or a Graphviz DOT digraph, and DOT as SVG.

One node per layer (and the input), labelled with its name, its type and the arguments
that differ from their defaults; one edge per input of every layer, from that input,
labelled with the shape that flows on it (so branches are drawn as branches); an edge to
an ``output`` node per model output; block instances as clusters, nested as the blocks
nest. Node ids are generated (``n0``, ``n1``, ...), never layer names, and every piece of
text in a label is escaped (`mermaid_text`, `dot_text`): no spec can close a label or add
a statement. `mermaid` and `dot` are pure functions; only `svg` runs a program
(Graphviz's ``dot``), on DOT text that `dot` wrote.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from specgen.graph import Graph, Node

# Label text is written as is only when made of these characters; any other character
# becomes a numeric character reference (Mermaid `#60;`, DOT `&#60;`).
_PLAIN = re.compile(r"[A-Za-z0-9_ .,=+\-:()]")
# Control, format (bidi overrides), surrogate, private-use and unassigned characters: shown
# as U+FFFD, so that no label carries a line break, an invisible reordering or a
# character that XML (SVG) refuses.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
REPLACEMENT = "\ufffd"

# An argument's value is cut to this many characters (a per-channel list can be long).
MAX_VALUE = 24

# Fields never shown: the wiring and checks every layer has, and the statistics and
# switches that would crowd a box without saying what the layer computes.
_HIDDEN = frozenset({"type", "name", "expect", "inputs", "allow", "use_bias"})
_HIDDEN_BY_KIND = {
    "batch_norm": frozenset({"epsilon", "momentum", "center", "scale"}),
    "normalization": frozenset({"mean", "variance"}),
}

# Graphviz's dot gets this long to draw a graph (a network at the layer limit takes
# seconds); then `svg` gives up.
DOT_TIMEOUT = 120.0


def _shown(text: str) -> str:
    return "".join(REPLACEMENT if unicodedata.category(c) in _UNSHOWN else c for c in text)


def mermaid_text(text: str) -> str:
    """`text` for the inside of a quoted Mermaid label: every character outside a small
    plain set as an entity code (``#34;``), so no quote, bracket, pipe, ``#``, ``;``,
    ``<`` or line break of the input survives to close the label or start markup.

    >>> mermaid_text('a"b]|<c>')
    'a#34;b#93;#124;#60;c#62;'
    """
    return "".join(c if _PLAIN.match(c) else f"#{ord(c)};" for c in _shown(text))


def dot_text(text: str) -> str:
    """`text` for the inside of a double-quoted DOT string: backslashes doubled, every
    other character outside a small plain set as an HTML character reference (``&#34;``),
    which Graphviz shows as the character; no quote or line break survives.

    >>> dot_text('a"b\\\\c<d>')
    'a&#34;b\\\\\\\\c&#60;d&#62;'
    """
    return "".join(
        c if _PLAIN.match(c) else "\\\\" if c == "\\" else f"&#{ord(c)};" for c in _shown(text)
    )


def shape_text(shape: tuple[int, ...]) -> str:
    """``32x32x3``, ``10``: the shape on an edge."""
    return "x".join(str(d) for d in shape)


def _value(value: Any, *, top: bool = True) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        if top and len(value) == 2 and all(type(v) is int for v in value):
            return f"{value[0]}x{value[1]}"  # kernel_size, stride, pool_size, size
        return "[" + ", ".join(_value(v, top=False) for v in value) + "]"
    return str(value)


def arguments(node: Node) -> list[str]:
    """The layer's arguments that differ from their defaults (the required ones always),
    in schema order: ``filters=32``, ``kernel_size=3x3``; the activation by its name.

    >>> from specgen.layers import Conv2D
    >>> from specgen.graph import NodeKind
    >>> conv = Conv2D(type="conv2d", filters=8, kernel_size=3, stride=2, activation="relu")
    >>> arguments(Node("c", NodeKind.LAYER, conv, (), None, [], [], (4, 4, 8)))
    ['filters=8', 'kernel_size=3x3', 'stride=2x2', 'relu']
    """
    layer = node.layer
    if layer is None:
        return []
    hidden = _HIDDEN | _HIDDEN_BY_KIND.get(layer.kind, frozenset())
    shown = []
    for name, info in type(layer).model_fields.items():
        value = getattr(layer, name)
        if name in hidden or (not info.is_required() and value == info.default):
            continue
        text = _value(value)
        if len(text) > MAX_VALUE:
            text = text[: MAX_VALUE - 1] + "\u2026"
        shown.append(text if name == "activation" else f"{name}={text}")
    return shown


def label_lines(node: Node) -> list[str]:
    """A node's label, unescaped: its name, then its type with its arguments (the input:
    its shape)."""
    if node.layer is None:
        return [node.name, shape_text(node.output)]
    args = arguments(node)
    return [node.name, f"{node.kind}({', '.join(args)})" if args else node.kind]


@dataclass(slots=True)
class Cluster:
    """A block instance: its title and what is drawn in it (node ids and clusters), in
    graph order. The root (title "") is the whole graph."""

    title: str
    index: int = -1
    items: list[str | Cluster] = field(default_factory=list)


@dataclass(slots=True)
class Layout:
    """What both writers draw: node ids and labels, the cluster tree, and the edges as
    (from id, to id, label), layer inputs first and then the model outputs."""

    ids: dict[str, str]
    labels: dict[str, list[str]]  # by node id
    root: Cluster
    edges: list[tuple[str, str, str]]
    inputs: list[str]  # ids of the input node (one)
    outputs: list[str]  # ids of the output nodes, in model-output order


def layout(graph: Graph) -> Layout:
    """Number the nodes (``n0`` is the input), group them by block instance and list
    the edges."""
    ids: dict[str, str] = {}
    labels: dict[str, list[str]] = {}
    root = Cluster("")
    clusters: dict[tuple[str, ...], Cluster] = {}
    edges: list[tuple[str, str, str]] = []
    for node in graph:
        ident = ids[node.name] = f"n{len(ids)}"
        labels[ident] = label_lines(node)
        parent = root
        uses = node.origin.uses if node.origin is not None else ()
        for depth, use in enumerate(uses):
            key = tuple(u.instance for u in uses[: depth + 1])
            cluster = clusters.get(key)
            if cluster is None:
                cluster = Cluster(f"{use.instance} (block {use.block})", len(clusters))
                clusters[key] = cluster
                parent.items.append(cluster)
            parent = cluster
        parent.items.append(ident)
        edges += [(ids[i], ident, shape_text(graph.nodes[i].output)) for i in node.inputs]
    outputs: list[str] = []
    several = len(graph.output_nodes) > 1
    for out in graph.output_nodes:
        ident = f"n{len(ids) + len(outputs)}"
        outputs.append(ident)
        labels[ident] = [out.name if several else "output"]
        root.items.append(ident)
        source = graph.nodes[out.inputs[0]]
        edges.append((ids[source.name], ident, shape_text(source.output)))
    inputs = [ids[n.name] for n in graph if n.layer is None]
    return Layout(ids, labels, root, edges, inputs, outputs)


def mermaid(graph: Graph) -> str:
    """A Mermaid flowchart (top to bottom), for Markdown: GitHub renders a ```` ```mermaid ````
    block as the picture."""
    plan = layout(graph)
    lines = ["flowchart TB"]

    def draw(cluster: Cluster, depth: int) -> None:
        pad = "    " * depth
        for item in cluster.items:
            if isinstance(item, Cluster):
                lines.append(f'{pad}subgraph sg{item.index} ["{mermaid_text(item.title)}"]')
                draw(item, depth + 1)
                lines.append(f"{pad}end")
            else:
                text = "<br/>".join(mermaid_text(t) for t in plan.labels[item])
                lines.append(f'{pad}{item}["{text}"]')

    draw(plan.root, 1)
    lines += [f'    {a} -->|"{mermaid_text(label)}"| {b}' for a, b, label in plan.edges]
    lines.append("    classDef io fill:#eef,stroke:#447")
    lines.append(f"    class {','.join(plan.inputs + plan.outputs)} io")
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    """A Graphviz DOT digraph (top to bottom): ``dot -Tsvg`` or ``-Tpng`` draws it."""
    plan = layout(graph)
    lines = [
        "digraph specgen {",
        '    graph [rankdir=TB, labelloc=t, fontname="Helvetica"];',
        f'    label="{dot_text(graph.name)}";',
        '    node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    marked = set(plan.inputs + plan.outputs)

    def draw(cluster: Cluster, depth: int) -> None:
        pad = "    " * depth
        for item in cluster.items:
            if isinstance(item, Cluster):
                lines.append(f"{pad}subgraph cluster_{item.index} {{")
                lines.append(f'{pad}    label="{dot_text(item.title)}";')
                lines.append(f"{pad}    style=dashed;")
                draw(item, depth + 1)
                lines.append(f"{pad}}}")
            else:
                text = "\\n".join(dot_text(t) for t in plan.labels[item])
                style = ', shape=oval, style=filled, fillcolor="#eeeeff"' if item in marked else ""
                lines.append(f'{pad}{item} [label="{text}"{style}];')

    draw(plan.root, 1)
    lines += [f'    {a} -> {b} [label="{dot_text(label)}"];' for a, b, label in plan.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizError(Exception):
    """Graphviz's dot could not be run, failed, or took too long: the message says which."""


def svg(dot_source: str, program: str, timeout: float = DOT_TIMEOUT) -> str:
    """`dot_source` drawn as SVG by `program` (Graphviz's ``dot``; no shell), or
    `GraphvizError` with the first line of what dot printed."""
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"Graphviz's dot took more than {timeout:g} s; --format dot prints the graph for it"
        ) from None
    except OSError as error:
        raise GraphvizError(f"cannot run Graphviz's dot: {error.strerror or error}") from None
    if done.returncode != 0:
        said = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines()]
        first = next((line for line in said if line), f"exit status {done.returncode}")
        raise GraphvizError(f"Graphviz's dot failed: {first[:200]}")
    return done.stdout.decode("utf-8", "replace")


DIAGRAM_WRITERS = {"mermaid": mermaid, "dot": dot}
