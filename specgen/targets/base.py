"""What every target shares: safe literals, a name namespace, call layout and the dispatch.

A target lowers each graph node with a ``lower_<type>`` method into `Step`s: plain data
(a submodule or layer constructor call, and how the forward pass applies it). The
template lays the steps out. Every value that reaches the source passes through
`literal` (typed: ints, finite floats, bools, None, strings, tuples of those) or
`identifier` (checked against the identifier grammar), so nothing in a spec can become
code. What a target cannot express exactly is collected as an SG401 finding, never
approximated.
"""

from __future__ import annotations

import hashlib
import keyword
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from specgen.diagnostics import Diagnostic
from specgen.graph import Graph, Node


class Code(str):
    """Source text fixed by a target (``float("-inf")``), never built from spec values."""

    __slots__ = ()


LINE_LENGTH = 88  # ruff's default: emitted files are formatted for a project without config
INDENT = "    "
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def literal(value: object) -> str:
    """Python source for a plain value; anything else is a bug, not a value.

    >>> literal((3, 3))
    '(3, 3)'
    >>> literal("conv'1")
    '"conv\\'1"'
    >>> literal(1e-3)
    '0.001'
    """
    if isinstance(value, Code):
        return str(value)
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"non-finite float {value!r} cannot be emitted")
        return repr(value)
    if isinstance(value, str):
        text = repr(value)
        # ruff format prefers double quotes; keep repr's escaping otherwise.
        if text.startswith("'") and '"' not in value:
            text = '"' + text[1:-1].replace("\\'", "'") + '"'
        return text
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    raise TypeError(f"cannot emit a {type(value).__name__} as a literal")


def identifier(name: str) -> str:
    """A name checked to be a plain Python identifier before it enters source code."""
    if not _IDENT.match(name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r} is not a safe identifier")
    return name


def file_label(path: str) -> str:
    """The spec's file name as it may appear in a docstring: no quotes, no escapes.

    >>> file_label("specs/x'y z.json")
    'x_y_z.json'
    """
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", base)[:50] or "spec"


def class_name(name: str, taken: Iterable[str] = ()) -> str:
    """PascalCase class name from a spec name: ``cifar10_cnn`` -> ``Cifar10Cnn``.

    A result that is a keyword or one of the module's own names (`taken`) gets a
    ``Model`` suffix, so the class never shadows an import or a helper.

    >>> class_name("cifar10_cnn")
    'Cifar10Cnn'
    >>> class_name("_x")
    'X'
    >>> class_name("none"), class_name("f", taken={"F"})
    ('NoneModel', 'FModel')
    """
    parts = [p for p in name.split("_") if p]
    result = "".join(p[0].upper() + p[1:] for p in parts) or "Model"
    if result[0].isdigit():
        result = "Model" + result
    if keyword.iskeyword(result) or result in set(taken):
        result += "Model"
    return identifier(result)


class Namespace:
    """Hands out unique Python names that never shadow the module's own names (torch.fx style)."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self._taken = set(reserved)

    def claim(self, wanted: str) -> str:
        name = identifier(wanted)
        candidate, n = name, 1
        while candidate in self._taken or keyword.iskeyword(candidate):
            candidate = f"{name}_{n}"
            n += 1
        self._taken.add(candidate)
        return candidate


@dataclass(frozen=True, slots=True)
class Call:
    """``callee(arg, ..., key=value, ...)`` with every argument already source text."""

    callee: str
    args: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def of(callee: str, *args: object, **kwargs: object) -> Call:
        return Call(
            callee,
            tuple(literal(a) for a in args),
            tuple((identifier(k), literal(v)) for k, v in kwargs.items()),
        )

    def items(self) -> list[str]:
        return [*self.args, *(f"{k}={v}" for k, v in self.kwargs)]

    def layout(self, indent: str, prefix: str = "", suffix: str = "") -> str:
        """One line if it fits in `LINE_LENGTH`, else one argument per line (ruff's style)."""
        items = self.items()
        flat = f"{indent}{prefix}{self.callee}({', '.join(items)}){suffix}"
        if len(flat) <= LINE_LENGTH:
            return flat
        inner = "".join(f"{indent}{INDENT}{item},\n" for item in items)
        return f"{indent}{prefix}{self.callee}(\n{inner}{indent}){suffix}"


@dataclass(slots=True)
class Step:
    """One constructed layer (or submodule) and how the data flows through it."""

    attr: str  # Python name: attribute (PyTorch) or the Keras layer's variable
    call: Call
    source: str  # the variable it reads
    target: str  # the variable it writes
    spec_layer: str  # the spec layer this step belongs to
    before: str = ""  # forward-pass expression wrapped around the input, e.g. a permute


@dataclass(slots=True)
class Lowered:
    """A whole model lowered for one target: what the template needs."""

    name: str
    class_name: str
    spec_file: str
    spec_sha256: str
    input_shape: tuple[int, ...]
    input_var: str
    output_var: str
    steps: list[Step] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)  # helper definitions the file needs
    calls: dict[str, Call] = field(default_factory=dict)  # other calls the template lays out
    findings: list[Diagnostic] = field(default_factory=list)


class Target:
    """Base generator: dispatches on node type to ``lower_<type>``."""

    name: ClassVar[str]
    template: ClassVar[str]
    reserved: ClassVar[frozenset[str]]
    # Module-level names of the emitted file (imports, helpers) a class must not shadow.
    module_names: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, graph: Graph, spec_file: str, spec_bytes: bytes) -> None:
        self.graph = graph
        self.names = Namespace(self.reserved)
        self.out = Lowered(
            name=graph.name,
            class_name=class_name(graph.name, self.module_names),
            spec_file=file_label(spec_file),
            spec_sha256=hashlib.sha256(spec_bytes).hexdigest(),
            input_shape=graph.input_shape,
            input_var="",
            output_var="",
        )
        self.vars: dict[str, str] = {}  # spec node name -> variable holding its output
        for node in graph.layers():  # spec names first: helpers never take one
            self.names.claim(node.name)

    @classmethod
    def supports(cls, kind: str) -> bool:
        return callable(getattr(cls, f"lower_{kind}", None))

    def unsupported(self, node: Node, feature: str, hint: str) -> None:
        self.out.findings.append(
            Diagnostic(
                "SG401",
                f"layer {node.name!r} ({node.kind}): {feature} cannot be expressed exactly "
                f"in {self.name}",
                hint=hint,
                json_path=("layers", node.index) if node.index is not None else (),
            )
        )

    def lower(self) -> Lowered:
        for node in self.graph:
            if node.layer is None:
                self.out.input_var = self.vars[node.name] = self.input_variable()
                continue
            method = getattr(self, f"lower_{node.kind}", None)
            if method is None:  # a registry test keeps this unreachable
                self.unsupported(node, f"layer type {node.kind!r}", "no lowering exists")
                continue
            method(node)
            if node.name not in self.vars:
                # Refused (an SG401 finding): let the rest lower on, to find every
                # finding in one run. Nothing is rendered when there are findings.
                self.vars[node.name] = self.source_of(node)
        self.out.output_var = self.vars[self.graph.output.name]
        return self.out

    def input_variable(self) -> str:
        return self.names.claim("inputs")

    def source_of(self, node: Node) -> str:
        (ref,) = node.inputs
        return self.vars[ref]

    def helper_name(self, node: Node, role: str) -> str:
        """A fresh name for a step that helps `node` (its padding, its activation)."""
        return self.names.claim(f"{node.name}_{role}")

    def add(self, node: Node, call: Call, *, attr: str | None = None, before: str = "") -> Step:
        """Append a step for `node`; a node's later steps read its earlier steps' output."""
        attr = attr or node.name
        step = Step(
            attr=attr,
            call=call,
            source=self.vars.get(node.name) or self.source_of(node),
            target=self.output_name(node, attr),
            spec_layer=node.name,
            before=before,
        )
        self.out.steps.append(step)
        self.vars[node.name] = step.target
        return step

    def output_name(self, node: Node, attr: str) -> str:
        return "x"


def render(target: str, lowered: Lowered, template_name: str) -> str:
    """Lay a lowered model out with its target's template (Jinja is imported only here)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir() / target)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Python source, not HTML: values are escaped by `literal`
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["lit"] = literal
    environment.filters["ident"] = identifier
    text = environment.get_template(template_name).render(m=lowered, INDENT=INDENT)
    return text


def template_dir() -> Path:
    """Templates ship inside the wheel as specgen/templates; a checkout keeps them at the top."""
    packaged = Path(__file__).resolve().parent.parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "templates"
