"""What every target shares: safe literals, a name namespace, call layout and the dispatch.

A target lowers each graph node with a ``lower_<type>`` method into `Step`s: plain data
(a submodule or layer constructor call, and how the forward pass applies it). The
template lays the steps out.

Blocks stay blocks: the nodes of each block instance are lowered in their own scope,
and the instances of one block are then compared. What every instance builds alike is
written once in a `Definition` (a PyTorch class, a Keras function); the argument values
that differ between instances (filters, strides, input channels) become its parameters,
named after the block's own parameters where they match. Instances whose lowering
differs in structure (say, padding that is symmetric in one and not in another) get one
definition per variant. Values get readable names (torch.fx style): a value used once,
right away, flows on as ``x``; anything used later or more than once is named.

Every value that reaches the source passes through `literal` (typed: ints, finite
floats, bools, None, strings, tuples of those) or `identifier` (checked against the
identifier grammar), so nothing in a spec can become code. What a target cannot
express exactly is collected as an SG401 finding, never approximated; what a framework is
known to compute wrongly is a warning (`warn`), and the source is still emitted.
"""

from __future__ import annotations

import functools
import hashlib
import keyword
import math
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from specgen.diagnostics import Diagnostic, Severity
from specgen.expand import BlockUse
from specgen.graph import Graph, Node
from specgen.targets.guard import RESERVED_NAMES


class Code(str):
    """Source text fixed by a target (``float("-inf")``), never built from spec values."""

    __slots__ = ()


# Keywords whose square pair (h, w) the frameworks also take as one int.
_SQUARE = frozenset(
    {
        "kernel_size",
        "stride",
        "strides",
        "padding",
        "dilation",
        "dilation_rate",
        "pool_size",
        "size",  # Keras' UpSampling2D
        "scale_factor",  # PyTorch's nn.Upsample
        "output_padding",  # transposed convolutions, both frameworks
    }
)
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
    if keyword.iskeyword(result) or result in set(taken) or result in RESERVED_NAMES:
        result += "Model"
    return identifier(result)


def python_name(local: str) -> str:
    """An identifier for a name that may start with a digit (a block's local name).

    Leading digits move to the end, so Keras' ``1_conv`` reads ``conv_1`` in Python.

    >>> python_name("conv1"), python_name("1_conv"), python_name("0_bn"), python_name("2")
    ('conv1', 'conv_1', 'bn_0', 'layer_2')
    """
    if _IDENT.match(local) and not keyword.iskeyword(local):
        return local
    match = re.match(r"([0-9][0-9_]*)(.*)\Z", local)
    if match and match.group(2).strip("_"):
        rest, digits = match.group(2).strip("_"), match.group(1).strip("_")
        candidate = f"{rest}_{digits}"
        if _IDENT.match(candidate) and not keyword.iskeyword(candidate):
            return candidate
    return identifier(f"layer_{local}" if _IDENT.match(f"layer_{local}") else "layer")


class Namespace:
    """Hands out unique names that never shadow the module's own (torch.fx style).

    With ``python=False`` a name need not be an identifier (Keras layer-name suffixes).
    """

    def __init__(
        self, reserved: Iterable[str], *, python: bool = True, also: Container[str] = ()
    ) -> None:
        self._taken = set(reserved)
        self._python = python
        # Names taken elsewhere and looked up there, not copied: the module's definitions,
        # which every scope must avoid (a copy per scope would cost blocks * instances).
        self._also = also

    def claim(self, wanted: str) -> str:
        if self._python and wanted.startswith("__"):
            # Python mangles '__x' inside a class (keywords excepted) and '__x__' is its own.
            wanted = python_name(wanted.lstrip("_") or "value")
        name = identifier(wanted) if self._python else wanted
        candidate, n = name, 1
        while candidate in self._taken or candidate in self._also or keyword.iskeyword(candidate):
            candidate = f"{name}_{n}"
            n += 1
        self._taken.add(candidate)
        return candidate

    def reserve(self, name: str) -> None:
        """Keep `name` from being handed out from now on."""
        self._taken.add(name)


@dataclass(frozen=True, slots=True)
class Call:
    """``callee(arg, ..., key=value, ...)`` with every argument already source text.

    `raw` keeps the plain values behind the text (positional first, then keyword), so
    that the instances of a block can be compared and their differences typed.
    `dropped` keywords equal the framework's default: they are compared like the others
    but not written out."""

    callee: str
    args: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, str], ...] = ()
    raw: tuple[object, ...] = ()
    dropped: frozenset[str] = frozenset()

    @staticmethod
    def of(callee: str, *args: object, **kwargs: object) -> Call:
        return Call(
            callee,
            tuple(literal(a) for a in args),
            tuple((identifier(k), literal(v)) for k, v in kwargs.items()),
            (*args, *kwargs.values()),
        )

    def texts(self) -> list[str]:
        return [*self.args, *(v for _, v in self.kwargs)]

    def keys(self) -> tuple[str, ...]:
        return (*(f"#{i}" for i in range(len(self.args))), *(k for k, _ in self.kwargs))

    def with_texts(self, texts: list[str], written: frozenset[str] = frozenset()) -> Call:
        """The same call with other argument texts; `written` keywords are written out
        even where they were dropped as defaults."""
        n = len(self.args)
        kwargs = tuple((k, t) for (k, _), t in zip(self.kwargs, texts[n:], strict=True))
        return Call(self.callee, tuple(texts[:n]), kwargs, self.raw, self.dropped - written)

    def items(self) -> list[str]:
        return [*self.args, *(f"{k}={v}" for k, v in self.kwargs if k not in self.dropped)]

    def layout(self, indent: str, prefix: str = "", suffix: str = "") -> str:
        """One line if it fits in `LINE_LENGTH`, else one argument per line (ruff's style)."""
        items = self.items()
        flat = f"{indent}{prefix}{self.callee}({', '.join(items)}){suffix}"
        if len(flat) <= LINE_LENGTH:
            return flat
        inner = "".join(_argument_lines(indent + INDENT, *pair) for pair in self._items_raw())
        return f"{indent}{prefix}{self.callee}(\n{inner}{indent}){suffix}"

    def _items_raw(self) -> list[tuple[str, object]]:
        """`items` with the plain value behind each (None where there is none)."""
        n = len(self.args)
        raws = [*self.raw, *[None] * (n + len(self.kwargs) - len(self.raw))]
        return [(text, raws[i]) for i, text in enumerate(self.args)] + [
            (f"{k}={v}", raws[n + j])
            for j, (k, v) in enumerate(self.kwargs)
            if k not in self.dropped
        ]


def _argument_lines(indent: str, item: str, raw: object) -> str:
    """One argument of a call laid out one argument per line; a tuple still too long for
    its line gets one element per line, as ruff formats it (per-channel values).

    >>> values = tuple(range(40))
    >>> _argument_lines("", "x=" + literal(values), values).splitlines()[:3]
    ['x=(', '    0,', '    1,']
    """
    line = f"{indent}{item},\n"
    if len(line) - 1 <= LINE_LENGTH or not isinstance(raw, tuple) or len(raw) < 2:
        return line
    text = literal(raw)
    if not item.endswith(text):  # a block parameter's name stands in for the value
        return line
    inner = "".join(f"{indent}{INDENT}{literal(value)},\n" for value in raw)
    return f"{indent}{item[: -len(text)]}(\n{inner}{indent}),\n"


def def_layout(
    indent: str, name: str, params: list[tuple[str, str]], returns: str, first: str = ""
) -> str:
    """A ``def`` line as ruff formats it: one line if it fits, else one parameter a line.

    >>> def_layout("", "f", [("x", "int")], "int")
    'def f(x: int) -> int:'
    """
    items = ([first] if first else []) + [f"{n}: {a}" for n, a in params]
    flat = f"{indent}def {name}({', '.join(items)}) -> {returns}:"
    if len(flat) <= LINE_LENGTH:
        return flat
    inner = "".join(f"{indent}{INDENT}{item},\n" for item in items)
    return f"{indent}def {name}(\n{inner}{indent}) -> {returns}:"


@dataclass(slots=True)
class Step:
    """One constructed layer (or block instance) and how the data flows through it."""

    attr: str  # PyTorch attribute / Keras layer name below the scope's prefix
    call: Call
    inputs: tuple[str, ...]  # the variables it reads
    target: str  # the variable it writes
    spec_layer: str  # the spec layer (or, for an instance, the block instance) it is for
    path: str  # the full PyTorch module path / Keras layer name
    before: str = ""  # forward-pass expression wrapped around the input, e.g. a permute
    instance: BlockUse | None = None  # set when the step is a block instance
    as_list: bool = False  # inputs passed as one list (Keras merge layers)

    def applied(self) -> str:
        """How the forward pass feeds the step: ``(x)``, ``(x, skip)``, ``(x.permute(...))``."""
        if self.as_list:
            return "([" + ", ".join(self.inputs) + "])"
        if self.before:
            (only,) = self.inputs
            return "(" + self.before.format(only) + ")"
        return "(" + ", ".join(self.inputs) + ")"

    def signature(self) -> tuple[object, ...]:
        return (
            self.attr,
            self.call.callee,
            self.call.keys(),
            self.inputs,
            self.target,
            self.before,
            self.instance is not None,
            self.as_list,
        )


@dataclass(slots=True)
class Param:
    name: str
    annotation: str


@dataclass(slots=True)
class Definition:
    """A model, or one block (variant): a PyTorch class or a Keras function."""

    name: str
    block: str | None  # None for the model itself
    params: list[Param]
    input_var: str
    output_vars: list[str]
    steps: list[Step] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)  # attribute -> spec name
    signature: str = ""  # the ``def`` line (Keras function, PyTorch __init__)

    @property
    def renamed(self) -> list[tuple[str, str]]:
        return sorted(self.renames.items())


@dataclass(slots=True)
class Lowered:
    """A whole model lowered for one target: what the template needs."""

    name: str
    class_name: str
    spec_file: str
    spec_sha256: str
    input_shape: tuple[int, ...]
    model: Definition | None = None
    blocks: list[Definition] = field(default_factory=list)  # inner blocks first
    helpers: set[str] = field(default_factory=set)  # helper definitions the file needs
    calls: dict[str, Call] = field(default_factory=dict)  # other calls the template lays out
    findings: list[Diagnostic] = field(default_factory=list)
    # (spec layer, full module path / Keras layer name) of every layer step, in order.
    paths: list[tuple[str, str]] = field(default_factory=list)
    # Python's recursion limit the emitted builder needs, when above the default (Keras).
    recursion_limit: int = 0

    @property
    def steps(self) -> list[Step]:
        assert self.model is not None
        return self.model.steps

    @property
    def returns(self) -> str:
        """The model's ``return`` line(s) in forward, wrapped as ruff formats them."""
        assert self.model is not None
        names = self.model.output_vars
        indent = INDENT * 2
        flat = f"{indent}return {', '.join(names)}"
        if len(flat) <= LINE_LENGTH:
            return flat
        inner = "".join(f"{indent}{INDENT}{name},\n" for name in names)
        return f"{indent}return (\n{inner}{indent})"

    @property
    def renamed(self) -> bool:
        """Whether some definition lists renamed attributes (``spec_names``)."""
        return any(d.renames for d in [*self.blocks, *([self.model] if self.model else [])])


@dataclass(slots=True)
class _Scope:
    """The nodes of one block instance (or of the model), with nested instances in order."""

    use: BlockUse | None
    items: list[Node | _Scope] = field(default_factory=list)

    def nodes(self) -> list[Node]:
        out: list[Node] = []
        for item in self.items:
            out.extend(item.nodes() if isinstance(item, _Scope) else [item])
        return out

    @property
    def output(self) -> Node:
        last = self.items[-1]
        return last.output if isinstance(last, _Scope) else last

    @property
    def prefix(self) -> str:
        return self.use.instance if self.use is not None else ""


@dataclass(slots=True)
class _Lowering:
    """State while lowering one scope."""

    scope: _Scope
    attrs: Namespace
    vars: dict[str, str]  # graph value -> variable
    attr_of: dict[str, str]  # spec layer / instance -> attribute in this scope
    steps: list[Step] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)
    input_var: str = "x"
    output_vars: list[str] = field(default_factory=list)
    module_path: str = ""  # dotted path of this instance's module (PyTorch)
    started: set[str] = field(default_factory=set)  # spec layers that have a step already


@dataclass(slots=True)
class _Instance:
    use: BlockUse
    input_shape: tuple[int, ...]
    lowering: _Lowering
    step: Step  # the parent's step that builds it; its call is set by `_unify`
    parent_is_model: bool  # built by the model itself, not inside another block's code


class Target:
    """Base generator: dispatches on node type to ``lower_<type>``."""

    name: ClassVar[str]
    template: ClassVar[str]
    reserved: ClassVar[frozenset[str]]
    # Module-level names of the emitted file (imports, helpers) a class must not shadow.
    module_names: ClassVar[frozenset[str]] = frozenset()
    # Whether attributes must be Python identifiers (PyTorch) or are name suffixes (Keras).
    python_attrs: ClassVar[bool] = True
    # Attribute names a layer or helper must not take (PyTorch: nn.Module's own).
    attr_reserved: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, graph: Graph, spec_file: str, spec_bytes: bytes) -> None:
        self.graph = graph
        # Module-level definitions shadow no builtin and none of the values the emitted
        # functions name themselves (a Keras block function's x, inputs and name).
        self.module = Namespace(self.module_names | RESERVED_NAMES | {"x", "inputs", "name"})
        self.out = Lowered(
            name=graph.name,
            class_name=class_name(graph.name, self.module_names),
            spec_file=file_label(spec_file),
            spec_sha256=hashlib.sha256(spec_bytes).hexdigest(),
            input_shape=graph.input_shape,
        )
        self.module.claim(self.out.class_name)
        self.instances: dict[str, list[_Instance]] = {}  # block -> instances, in order
        self.definition_names: dict[str, list[str]] = {}  # block -> one name per variant
        self.defined: set[str] = set()  # every name in `definition_names`
        self.value_extra: set[str] = set()  # `value_reserved` beyond the definitions
        self.state: _Lowering | None = None

    # callee -> keyword -> the framework's own default: an argument equal to it is left
    # out, so emitted code reads like hand-written code. Only defaults that both agree
    # with specgen's convention and have never changed belong here; every value where
    # the frameworks differ (batch norm momentum and epsilon, count_include_pad, ...) is
    # always written out.
    defaults: ClassVar[dict[str, dict[str, object]]] = {}

    def call(self, callee: str, *args: object, **kwargs: object) -> Call:
        """`Call.of`, with square pairs written as one int (``kernel_size=3``) and
        arguments equal to the framework's default (`defaults`) left out."""
        known = self.defaults.get(callee, {})
        values: dict[str, object] = {}
        dropped = set()
        for key, value in kwargs.items():
            if (
                key in _SQUARE
                and isinstance(value, tuple)
                and len(value) == 2
                and type(value[0]) is int
                and value[0] == value[1]
            ):
                value = value[0]
            if key in known and type(known[key]) is type(value) and known[key] == value:
                dropped.add(key)
            values[key] = value
        call = Call.of(callee, *args, **values)
        return Call(call.callee, call.args, call.kwargs, call.raw, frozenset(dropped))

    @classmethod
    def supports(cls, kind: str) -> bool:
        return callable(getattr(cls, f"lower_{kind}", None))

    def unsupported(self, node: Node, feature: str, hint: str, *, field: str = "") -> None:
        """An SG401 finding; at the layer's `field` where the spec writes it out."""
        written = field and node.layer is not None and field in node.layer.model_fields_set
        self.out.findings.append(
            Diagnostic(
                "SG401",
                f"layer {node.name!r} ({node.kind}): {feature} cannot be expressed exactly "
                f"in {self.name}",
                hint=hint,
                json_path=(*node.path, field) if written else node.path,
            )
        )

    def warn(self, node: Node, code: str, message: str, hint: str, *, field: str = "") -> None:
        """A warning about the emitted code (a known framework bug): the source is still
        emitted; `validate --target --strict` fails on it."""
        written = field and node.layer is not None and field in node.layer.model_fields_set
        self.out.findings.append(
            Diagnostic(
                code,
                f"layer {node.name!r} ({node.kind}): {message}",
                severity=Severity.WARNING,
                hint=hint,
                json_path=(*node.path, field) if written else node.path,
            )
        )

    # --- structure ---------------------------------------------------------------------

    def scopes(self) -> _Scope:
        """The model's nodes grouped into nested block instances, in order."""
        root = _Scope(None)
        for node in self.graph.layers():
            scope = root
            for use in node.origin.uses if node.origin is not None else ():
                last = scope.items[-1] if scope.items else None
                if isinstance(last, _Scope) and last.use == use:
                    scope = last
                else:
                    child = _Scope(use)
                    scope.items.append(child)
                    scope = child
            scope.items.append(node)
        self._inline_leaky(root)
        return root

    def _inline_leaky(self, scope: _Scope, counts: dict[str, int] | None = None) -> None:
        """Lower some instances in place instead of as a class/function call:

        - a block used once: SPEC 5.3 makes it exactly its layers written in place, in
          the emitted code too;
        - an instance whose inner layers are read from outside (possible in a flat
          spec): it is no black box.
        """
        if counts is None:
            instances = {
                (use.block, use.instance)
                for node in self.graph.layers()
                for use in (node.origin.uses if node.origin is not None else ())
            }
            counts = {}
            for block, _ in instances:
                counts[block] = counts.get(block, 0) + 1
        items: list[Node | _Scope] = []
        for item in scope.items:
            if isinstance(item, _Scope):
                self._inline_leaky(item, counts)
                inside = {n.name for n in item.nodes()}
                leaks = any(
                    user not in inside
                    for n in item.nodes()
                    if n is not item.output
                    for user in n.users
                )
                assert item.use is not None
                if leaks or counts[item.use.block] == 1:
                    items.extend(item.items)
                    continue
            items.append(item)
        scope.items = items

    def lower(self) -> Lowered:
        root = self.scopes()
        for block in self._blocks_inner_first(root):
            self.definition_names[block] = [self.module.claim(self.definition_name(block))]
            self.defined.update(self.definition_names[block])
        self.value_extra = self.value_reserved() - self.defined
        model = self.lower_scope(root, top=True)
        for block in self._blocks_inner_first(root):
            self._unify(block, self.instances[block])
        self.out.model = Definition(
            name=self.out.class_name,
            block=None,
            params=[],
            input_var=model.input_var,
            output_vars=model.output_vars,
            steps=model.steps,
            renames=model.renames,
        )
        self.finish()
        return self.out

    def finish(self) -> None:
        """Target-specific calls around the model (the Keras input and Model)."""

    def _blocks_inner_first(self, root: _Scope) -> list[str]:
        height: dict[str, int] = {}

        def visit(scope: _Scope) -> int:
            below = max((visit(i) for i in scope.items if isinstance(i, _Scope)), default=0)
            if scope.use is not None:
                height[scope.use.block] = max(height.get(scope.use.block, 0), below + 1)
            return below + 1

        visit(root)
        seen = {b: i for i, b in enumerate(height)}  # first seen first, among equals
        return sorted(height, key=lambda b: (height[b], seen[b]))

    # --- one scope -----------------------------------------------------------------------

    def input_name(self, top: bool, used_once_first: bool) -> str:
        return "x" if used_once_first else "inputs"

    def lower_scope(self, scope: _Scope, *, top: bool, module_path: str = "") -> _Lowering:
        state = _Lowering(
            scope,
            Namespace(self.attr_reserved, python=self.python_attrs),
            {},
            {},
            module_path=module_path,
        )
        outer, self.state = self.state, state
        produced: dict[str, int] = {}  # value -> index of the item that makes it
        reads: list[list[str]] = []
        for index, item in enumerate(scope.items):
            if isinstance(item, _Scope):
                inside = {n.name for n in item.nodes()}
                outside = [r for n in item.nodes() for r in n.inputs if r not in inside]
                reads.append(list(dict.fromkeys(outside)))
                produced[item.output.name] = index
            else:
                reads.append(list(item.inputs))
                produced[item.name] = index
        outputs = [n.name for n in self.graph.outputs] if top else [scope.output.name]
        uses: dict[str, list[int]] = {}
        for index, refs in enumerate(reads):
            for ref in refs:
                uses.setdefault(ref, []).append(index)
        for ref in outputs:
            # A single output flows into `return` as `x`; several are named, since
            # `return probs, seg` reads better than `return probs, x`.
            uses.setdefault(ref, []).append(len(scope.items) + (len(outputs) > 1))
        external = [r for r in uses if r not in produced]
        # Attributes first: every layer's and instance's own name, then helpers.
        for item in scope.items:
            local = self.local_name(item, scope)
            attr = state.attrs.claim(python_name(local) if self.python_attrs else local)
            if self.python_attrs and attr != local:
                state.renames[attr] = local
            key = item.use.instance if isinstance(item, _Scope) and item.use else item.name  # type: ignore[union-attr]
            state.attr_of[key] = attr
        # `x` is handed out by the rule below only, never as a name of its own.
        # (`value_reserved`, as `defined` plus `value_extra`: no copy of every definition
        # name per scope.)
        names = Namespace(
            {*self.reserved, *self.module_names, *self.value_extra, *RESERVED_NAMES} - {"x"},
            also=self.defined if "x" not in self.defined else self.defined - {"x"},
        )
        for ref in external:
            once_first = uses[ref] == [0]
            state.input_var = state.vars[ref] = names.claim(self.input_name(top, once_first))
        if not external:
            state.input_var = names.claim(self.input_name(top, False))
        # From here on `x` only flows from one item to the next: a layer named `x` whose
        # value is read later must not be held in it (the next flowing value would
        # overwrite it, and a merge would read the wrong tensor).
        names.reserve("x")
        for value, index in produced.items():
            # Used once, by the very next item: it flows on as `x`. (An input held in `x`
            # is read only by the first item, so `x` is free again after it.)
            if uses.get(value) == [index + 1]:
                state.vars[value] = "x"
            else:
                item = scope.items[index]
                key = item.use.instance if isinstance(item, _Scope) and item.use else value
                state.vars[value] = names.claim(python_name(state.attr_of[key]))
        for item in scope.items:
            if isinstance(item, _Scope):
                self.lower_instance(item, state)
            else:
                self.lower_node(item)
        state.output_vars = [state.vars[ref] for ref in outputs]
        self.state = outer
        return state

    def value_reserved(self) -> set[str]:
        """Names a variable must not take: the module's definitions (and Keras' `name`)."""
        return {n for names in self.definition_names.values() for n in names}

    def local_name(self, item: Node | _Scope, scope: _Scope) -> str:
        """The name of a layer or instance inside `scope` (without the scope's prefix)."""
        prefix = scope.prefix + "_" if scope.prefix else ""
        if isinstance(item, _Scope):
            assert item.use is not None
            return item.use.instance.removeprefix(prefix)
        return item.name.removeprefix(prefix)

    def lower_node(self, node: Node) -> None:
        method = getattr(self, f"lower_{node.kind}", None)
        if method is None:  # a registry test keeps this unreachable
            self.unsupported(node, f"layer type {node.kind!r}", "no lowering exists")
            return
        method(node)

    def lower_instance(self, scope: _Scope, parent: _Lowering) -> None:
        assert scope.use is not None
        use = scope.use
        source = self.graph.nodes[
            next(
                r
                for n in scope.nodes()
                for r in n.inputs
                if r not in {m.name for m in scope.nodes()}
            )
        ]
        attr = parent.attr_of[use.instance]
        lowering = self.lower_scope(scope, top=False, module_path=self.path_of(attr, parent))
        step = Step(
            attr=attr,
            call=Call("?"),
            inputs=(parent.vars[source.name],),
            target=parent.vars[scope.output.name],
            spec_layer=use.instance,
            path=self.path_of(attr, parent),
            instance=use,
        )
        parent.steps.append(step)
        self.instances.setdefault(use.block, []).append(
            _Instance(use, source.output, lowering, step, parent.scope.use is None)
        )

    def path_of(self, attr: str, state: _Lowering) -> str:
        """The full name of a step: dotted module path (PyTorch), layer name (Keras)."""
        raise NotImplementedError

    # --- steps ---------------------------------------------------------------------------

    @property
    def scope(self) -> _Lowering:
        assert self.state is not None
        return self.state

    def attr(self, node: Node) -> str:
        return self.scope.attr_of[node.name]

    def helper_name(self, node: Node, role: str) -> str:
        """A fresh attribute for a step that helps `node` (its padding, its activation)."""
        return self.scope.attrs.claim(f"{self.attr(node)}_{role}")

    def add(self, node: Node, call: Call, *, attr: str | None = None, before: str = "") -> Step:
        """Append a step for `node`: its first step reads the node's inputs, later steps
        read the earlier ones; every step writes the node's variable."""
        state = self.scope
        attr = attr or self.attr(node)
        target = state.vars[node.name]
        started = node.name in state.started
        state.started.add(node.name)
        inputs = (target,) if started else tuple(state.vars[r] for r in node.inputs)
        step = Step(
            attr=attr,
            call=call,
            inputs=inputs,
            target=target,
            spec_layer=node.name,
            path=self.path_of(attr, state),
            before=before,
        )
        state.steps.append(step)
        self.out.paths.append((node.name, step.path))
        return step

    # --- blocks ----------------------------------------------------------------------------

    def definition_name(self, block: str) -> str:
        """The class (PyTorch) or function (Keras) name wanted for a block."""
        raise NotImplementedError

    def variant_name(self, block: str, number: int) -> str:
        names = self.definition_names[block]
        while len(names) < number:
            names.append(self.module.claim(f"{names[0]}{len(names) + 1}"))
            self.defined.add(names[-1])
        return names[number - 1]

    def signature_of(self, definition: Definition) -> str:
        raise NotImplementedError

    def instance_call(
        self, definition: Definition, args: list[tuple[str, str, object]], instance: _Instance
    ) -> Call:
        """The call that builds one instance: ``Basic(filters=16)`` / ``basic(x, ...)``."""
        raise NotImplementedError

    def _unify(self, block: str, instances: list[_Instance]) -> None:
        """One definition per structural variant of `block`; each instance's step calls
        its variant with the values that differ between instances."""
        variants: dict[tuple[object, ...], list[_Instance]] = {}
        for instance in instances:
            lowering = instance.lowering
            signature = (
                lowering.input_var,
                tuple(lowering.output_vars),
                tuple(s.signature() for s in lowering.steps),
            )
            variants.setdefault(signature, []).append(instance)
        for number, group in enumerate(variants.values(), start=1):
            first = group[0].lowering
            params: dict[str, Param] = {}
            claimed: dict[str, str] = {}  # what a parameter stands for -> its name
            names = Namespace(
                {*self.reserved, *self.module_names, *self.value_extra, first.input_var}
                | {s.target for s in first.steps}
                | RESERVED_NAMES,
                also=self.defined,
            )
            columns: list[list[str]] = [list(s.call.texts()) for s in first.steps]
            written: list[set[str]] = [set() for _ in first.steps]
            per_instance: list[dict[str, tuple[str, object]]] = [{} for _ in group]
            index: _ParamIndex | None = None  # built when some argument differs
            for i, step in enumerate(first.steps):
                texts = [inst.lowering.steps[i].call.texts() for inst in group]
                raws = [inst.lowering.steps[i].call.raw for inst in group]
                for j, key in enumerate(step.call.keys()):
                    values = [t[j] for t in texts]
                    if len(set(values)) == 1:
                        continue
                    column = [r[j] if j < len(r) else None for r in raws]
                    index = index or _ParamIndex(group)
                    meaning, pair = self._meaning(group, column, step, key, index)
                    if meaning not in claimed:
                        claimed[meaning] = names.claim(python_name(meaning.split(":")[-1]))
                    name = claimed[meaning]
                    arguments = [c[0] if pair else c for c in column]  # type: ignore[index]
                    if name not in params:
                        params[name] = Param(name, _annotation(arguments))
                    for k in range(len(group)):
                        text = literal(arguments[k]) if pair else values[k]
                        per_instance[k][name] = (text, arguments[k])
                    columns[i][j] = f"({name}, {name})" if pair else name
                    written[i].add(key)
            definition = Definition(
                name=self.variant_name(block, number),
                block=block,
                params=list(params.values()),
                input_var=first.input_var,
                output_vars=first.output_vars,
                steps=[
                    Step(
                        s.attr,
                        s.call.with_texts(columns[i], frozenset(written[i])),
                        s.inputs,
                        s.target,
                        s.spec_layer,
                        s.path,
                        s.before,
                        s.instance,
                        s.as_list,
                    )
                    for i, s in enumerate(first.steps)
                ],
                renames=first.renames,
            )
            definition.signature = self.signature_of(definition)
            self.out.blocks.append(definition)
            for k, inst in enumerate(group):
                args = [(p.name, *per_instance[k][p.name]) for p in definition.params]
                inst.step.call = self.instance_call(definition, args, inst)

    @staticmethod
    def _meaning(
        group: list[_Instance], column: list[object], step: Step, key: str, index: _ParamIndex
    ) -> tuple[str, bool]:
        """What one differing argument stands for, to name its parameter: a block
        parameter of equal value (``pair``: written ``(p, p)``), else the block's input
        channels, else the argument itself (``conv1_stride``)."""
        found = index.find(column)
        if found is not None:
            param, pair = found
            return f"param:{param}", pair
        if all(
            type(v) is int and v == inst.input_shape[-1]
            for v, inst in zip(column, group, strict=True)
        ):
            return "in_channels", False
        argument = key.lstrip("#") if not key.startswith("#") else f"arg{key[1:]}"
        return f"slot:{step.attr}_{argument}", False


class _ParamIndex:
    """The block parameters of a group of instances, by their values across the group,
    so that the parameter behind a differing argument is one lookup away (a scan of every
    parameter for every argument would cost parameters * arguments * instances).

    Only parameters that some instance sets under ``with:`` can differ between instances;
    the first `LIMIT` of them (in ``params`` order) are indexed, each under its values
    compared as `_same` compares them and, for int parameters, as ``(v, v)`` pairs.
    """

    LIMIT = 64

    def __init__(self, group: list[_Instance]) -> None:
        first = group[0].use.bindings
        given = {p for inst in group for p in inst.use.bindings.given}
        self.plain: dict[object, tuple[int, str]] = {}
        self.pairs: dict[object, tuple[int, str]] = {}
        for param in sorted(given, key=first.position)[: self.LIMIT]:
            values = [inst.use.bindings[param] for inst in group]
            at = (first.position(param), param)
            key = _value_key(values)
            if key is not None:
                self.plain.setdefault(key, at)
            if all(type(v) is int for v in values):
                self.pairs.setdefault(tuple((v, v) for v in values), at)

    def find(self, column: list[object]) -> tuple[str, bool] | None:
        """The first parameter (in ``params`` order) equal to `column` in every instance,
        and whether it is equal as a pair."""
        plain = self.plain.get(_value_key(column) or ())
        try:
            pair = self.pairs.get(tuple(column))
        except TypeError:  # an unhashable value is no int pair
            pair = None
        if plain is not None and (pair is None or plain <= pair):
            return plain[1], False
        return (pair[1], True) if pair is not None else None


def _value_key(values: list[object]) -> tuple[object, ...] | None:
    """A key under which values are equal exactly when `_same` holds: types count, and a
    spec list equals an emitted tuple. None for a value no emitted argument can equal."""

    def key(value: object) -> object:
        if isinstance(value, list | tuple):
            return (list, tuple(key(v) for v in value))
        return (type(value), value)

    result = tuple(key(v) for v in values)
    try:
        hash(result)
    except TypeError:  # a mapping: emitted arguments are never mappings
        return None
    return result


def _same(value: object, raw: object) -> bool:
    """A spec value (JSON) equals an emitted one (lists became tuples on the way)."""
    if isinstance(value, list):
        return (
            isinstance(raw, tuple)
            and len(raw) == len(value)
            and all(_same(v, r) for v, r in zip(value, raw, strict=True))
        )
    return type(value) is type(raw) and value == raw


def _annotation(values: list[object]) -> str:
    """The type annotation of a parameter that takes these values.

    >>> _annotation([16, 32]), _annotation([(1, 1), (2, 2)]), _annotation([None, 0.5])
    ('int', 'tuple[int, int]', 'float | None')
    """
    kinds = sorted({_type_of(v) for v in values}, key=lambda k: (k == "None", k))
    return " | ".join(kinds)


def _type_of(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return "tuple[" + ", ".join(_type_of(v) for v in value) + "]"
    if isinstance(value, Code):
        return "Any"
    return type(value).__name__


def render(target: str, lowered: Lowered, template_name: str) -> str:
    """Lay a lowered model out with its target's template (Jinja is imported only here)."""
    template = _environment(target).get_template(template_name)
    return str(template.render(m=lowered, INDENT=INDENT))


@functools.cache
def _environment(target: str) -> Any:
    """One Jinja environment per target and process: templates compile once."""
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
    return environment


def template_dir() -> Path:
    """Templates ship inside the wheel as specgen/templates; a checkout keeps them at the top."""
    packaged = Path(__file__).resolve().parent.parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "templates"
