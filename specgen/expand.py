"""Blocks: expand ``blocks:`` and block uses into a flat list of layers, before the schema.

This stage sits between loading and the schema. Its output is a flat document in which
every layer is an ordinary layer mapping, so everything downstream (schema, graph,
targets) sees one kind of layer. What it keeps is *where each value came from*:

- every flat value has a source path in the file (`ExpandedDocument.source_path`), so a
  diagnostic points at the block's own line, or at the ``with:`` entry when the value
  came from a parameter;
- every flat layer has an `Origin`: its mapping in the file and the chain of block uses
  it was expanded through, which diagnostics show as ``note:`` lines and the targets use
  to emit one class (PyTorch) or function (Keras) per block.

Substitution is whole-value only: a string that is exactly ``$param`` is replaced by the
parameter's value. Nothing is ever evaluated. The size of an expansion is computed from
the definitions alone (a repeat multiplies a count, it is never unrolled to count), so a
spec that would expand past `Limits.layers` is refused before anything is built.
"""

from __future__ import annotations

import difflib
import json
import keyword
import re
from collections import ChainMap
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from specgen.diagnostics import Diagnostic, JsonPath, Position, Severity, show_value
from specgen.limits import DEFAULT_LIMITS, Limits
from specgen.load import Document

# An expansion beyond this many layers is refused before it is built (SG114).
MAX_EXPANDED_LAYERS = DEFAULT_LIMITS.layers  # the default; `--limit layers=N` changes it
# Blocks may use blocks this many levels deep; real networks use two or three.
MAX_BLOCK_DEPTH = 32
MAX_REPEAT = MAX_EXPANDED_LAYERS
MAX_NAME = 40  # as specgen.layers.base.MAX_NAME: the expanded names are layer names
# A hint or message lists at most this many names (a file may define thousands).
MAX_LISTED = 20
# The did-you-mean searches of one file compare at most this many candidates in all
# (half a second in the worst case): thousands of misspelt names among thousands of
# blocks or parameters would otherwise cost their product. Past it, hints fall back
# to their listing; a real file's few typos never get near it.
HINT_BUDGET = 5_000

USE_KEYS = ("block", "name", "repeat", "with", "inputs")
BLOCK_KEYS = ("params", "layers")
INPUT = "input"
_LOCAL = re.compile(r"[A-Za-z0-9_]+\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class BlockUse:
    """One instance of a block: which block, its names, where it is used, its arguments."""

    block: str
    instance: str  # the expanded instance name, e.g. 'stage1_2'
    local: str  # the instance's name inside its parent (the part after the parent's prefix)
    path: JsonPath  # the use's mapping in the file
    bindings: ParamValues  # every parameter's value, in `params` order
    # Positions are looked up when a message needs one: a JSON file computes its
    # line/column table only then (specgen.load.LazyJsonPositions).
    document: Document | None = field(default=None, compare=False, repr=False)

    @property
    def position(self) -> Position | None:
        return self.document.locate(self.path) if self.document is not None else None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a flat layer came from: its mapping in the file and the block uses around it."""

    path: JsonPath
    uses: tuple[BlockUse, ...] = ()  # outermost first
    local: str = ""  # the layer's name inside its innermost instance
    document: Document | None = field(default=None, compare=False, repr=False)

    @property
    def position(self) -> Position | None:
        """Where the layer's mapping is written in the file (looked up on demand)."""
        return self.document.locate(self.path) if self.document is not None else None

    def notes(self, file: str) -> tuple[str, ...]:
        """``in block 'basic' used as 'stage1_2' at net.yaml:14:5``, innermost first."""
        notes = []
        for use in reversed(self.uses):
            where = file
            if use.position is not None:
                where += f":{use.position.line}:{use.position.column}"
            notes.append(f"in block {use.block!r} used as {use.instance!r} at {where}")
        return tuple(notes)


@dataclass(slots=True)
class ExpandedDocument(Document):
    """The flat document; positions and paths resolve through to the file's own."""

    source: Document | None = None
    sources: dict[JsonPath, JsonPath] = field(default_factory=dict)

    def source_path(self, path: JsonPath) -> JsonPath:
        """The path in the file of the flat value at `path` (longest mapped prefix)."""
        for end in range(len(path), -1, -1):
            hit = self.sources.get(path[:end])
            if hit is not None:
                return (*hit, *path[end:])
        return path

    def locate(self, path: JsonPath, *, key: bool = False) -> Position | None:
        assert self.source is not None
        return self.source.locate(self.source_path(path), key=key)


@dataclass(frozen=True, slots=True)
class Hole:
    """A flat layer that could not be expanded (already reported): later checks skip it."""

    name: str


@dataclass(frozen=True, slots=True)
class _Ref:
    """The unnamed top-level layer at flat index `index`, until its name is generated."""

    index: int


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


def flat_identity(raw: object) -> tuple[str | None, str]:
    """(name, type) of a flat layer as far as they can be trusted before the schema."""
    if isinstance(raw, Hole):
        return raw.name, "layer"
    if not isinstance(raw, dict):
        return None, "layer"
    name, kind = raw.get("name"), raw.get("type")
    valid_name = name if isinstance(name, str) and name.isidentifier() else None
    return valid_name, kind if isinstance(kind, str) and kind.isidentifier() else "layer"


@dataclass(slots=True)
class Expansion:
    document: Document | None  # None when the expansion was refused as a whole
    origins: list[Origin] = field(default_factory=list)  # one per flat layer
    diagnostics: list[Diagnostic] = field(default_factory=list)
    holes: set[int] = field(default_factory=set)  # flat indices of `Hole`s

    def source_path(self, path: JsonPath) -> JsonPath:
        if isinstance(self.document, ExpandedDocument):
            return self.document.source_path(path)
        return path

    def origin_of(self, path: JsonPath) -> Origin | None:
        """The origin of the flat layer that `path` leads into, if it leads into one."""
        if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
            return self.origins[path[1]] if 0 <= path[1] < len(self.origins) else None
        return None


# --- definitions ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    name: str
    path: JsonPath
    params: dict[str, tuple[Any, JsonPath]]  # name -> (default or None, path of the default)
    layers: list[Any]
    broken: bool = False
    # Built once, shared by every use: a use costs what its `with:` holds, not what the
    # block declares (a block of 10,000 parameters used 10,000 times stays linear).
    defaults: dict[str, _Binding] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)  # parameters whose default is null
    order: dict[str, int] = field(default_factory=dict)  # parameter -> its place in params


@dataclass(frozen=True, slots=True)
class _Binding:
    value: Any
    source: JsonPath  # where the value is written in the file


class ParamValues(Mapping[str, Any]):
    """Every parameter's value for one block use, in `params` order: a view of the use's
    own `with:` entries over the block's shared defaults, not a copy per use."""

    __slots__ = ("_bindings", "_order")

    def __init__(self, bindings: ChainMap[str, _Binding], order: Mapping[str, int]) -> None:
        self._bindings = bindings
        self._order = order

    def __getitem__(self, name: str) -> Any:
        return self._bindings[name].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._bindings)

    def __len__(self) -> int:
        return len(self._bindings)

    def __repr__(self) -> str:
        return f"ParamValues({dict(self)!r})"

    def __hash__(self) -> int:
        return hash(tuple(self.items()))

    @property
    def given(self) -> Collection[str]:
        """The parameters this use gives a value (the others keep their defaults)."""
        return self._bindings.maps[0].keys()

    def position(self, name: str) -> int:
        """The parameter's place in the block's `params`."""
        return self._order[name]


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def _hint(word: str, choices: list[str], otherwise: str, *, prefix: str = "") -> str:
    """``did you mean 'x'?`` for a close choice, else `otherwise`."""
    fix = _suggest(word, choices)
    return f"did you mean {prefix + fix!r}?" if fix else otherwise


def _listing(label: str, choices: Collection[str], empty: str) -> str:
    """``label: a, b, c``, or `empty` when there is nothing to list; past `MAX_LISTED`
    names, how many more."""
    if not choices:
        return empty
    return f"{label}: " + _names(choices, len(choices), quote=False)


def _names(names: Iterable[str], total: int, *, quote: bool = True) -> str:
    """``'a', 'b', 'c'`` of `total` names: at most `MAX_LISTED`, then ``and 7 more``."""
    shown = [repr(n) if quote else n for n in islice(names, MAX_LISTED)]
    more = total - len(shown)
    return ", ".join(shown) + (f", and {more} more" if more > 0 else "")


def _is_use(item: object) -> bool:
    return isinstance(item, dict) and "block" in item


class _Expander:
    def __init__(self, document: Document, file: str, limits: Limits = DEFAULT_LIMITS) -> None:
        self.doc = document
        self.file = file
        self.max_layers = limits.layers
        self.data: dict[str, Any] = document.data
        self.diagnostics: list[Diagnostic] = []
        self.blocks: dict[str, _Block] = {}
        self.layers: list[Any] = []
        self.origins: list[Origin] = []
        self.sources: dict[JsonPath, JsonPath] = {}
        self.holes: set[int] = set()
        # Instance name -> the flat name of its output, so `inputs`/`outputs` may name one.
        self.aliases: dict[str, str] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.instance_names_used: set[str] = set()
        # Explicit top-level layer names so far, which an instance name must not repeat.
        self.top_names: set[str] = set()
        # Did-you-mean answers per (pool of names, word), within `HINT_BUDGET`; the
        # listings that stand in for them are built once per pool.
        self.suggestions: dict[tuple[str, str], str | None] = {}
        self.hint_budget = HINT_BUDGET
        self.listings: dict[str, str] = {}

    def hint(
        self,
        pool: str,
        word: str,
        choices: Iterable[str],
        size: int,
        otherwise: Callable[[], str],
        *,
        prefix: str = "",
    ) -> str:
        """``did you mean 'x'?`` for a close choice among the `size` `choices`, else
        `otherwise()`. `pool` names the choices: the same pool always holds the same
        names (a block's parameters), or more of them later (its layers so far)."""
        key = (pool, word)
        if key not in self.suggestions:
            fix = None
            if size <= self.hint_budget:
                self.hint_budget -= size
                fix = _suggest(word, choices)
            self.suggestions[key] = fix
        fix = self.suggestions[key]
        return f"did you mean {prefix + fix!r}?" if fix else otherwise()

    def listing(
        self, pool: str, label: str, choices: Callable[[], Collection[str]], empty: str
    ) -> str:
        if pool not in self.listings:
            self.listings[pool] = _listing(label, choices(), empty)
        return self.listings[pool]

    # -- reporting

    def report(
        self,
        code: str,
        message: str,
        path: JsonPath,
        *,
        hint: str | None = None,
        key: bool = False,
        uses: tuple[BlockUse, ...] = (),
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.diagnostics.append(
            Diagnostic(
                code,
                message,
                severity=severity,
                hint=hint,
                json_path=path,
                position=self.doc.locate(path, key=key),
                notes=Origin(path, uses).notes(self.file),
            )
        )

    # -- definitions

    def read_blocks(self) -> None:
        raw = self.data.get("blocks")
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.report(
                "SG103",
                f"blocks: expected a mapping of block names, got {show_value(raw)}",
                ("blocks",),
            )
            return
        for name, definition in raw.items():
            path: JsonPath = ("blocks", name)
            block = _Block(name, path, {}, [])
            self.blocks[name] = block
            if not _IDENT.match(name) or keyword.iskeyword(name) or len(name) > MAX_NAME:
                self.report(
                    "SG104",
                    f"block name {name!r} is not an identifier",
                    path,
                    hint="block names match [A-Za-z_][A-Za-z0-9_]*",
                    key=True,
                )
                block.broken = True
            if not isinstance(definition, dict):
                self.report(
                    "SG103",
                    f"block {name!r}: expected a mapping with 'params' and 'layers', "
                    f"got {show_value(definition)}",
                    path,
                )
                block.broken = True
                continue
            for key in definition:
                if key not in BLOCK_KEYS:
                    self.report(
                        "SG102",
                        f"block {name!r}: unknown key {key!r}",
                        (*path, key),
                        hint=_hint(key, list(BLOCK_KEYS), "allowed keys: params, layers"),
                        key=True,
                    )
                    block.broken = True
            params = definition.get("params", {})
            if params is None:
                params = {}
            if not isinstance(params, dict):
                self.report(
                    "SG103",
                    f"block {name!r}: params: expected a mapping of parameter names to "
                    f"defaults (null: required), got {show_value(params)}",
                    (*path, "params"),
                )
                block.broken = True
                params = {}
            for param, default in params.items():
                if not _IDENT.match(param):
                    self.report(
                        "SG104",
                        f"block {name!r}: parameter name {param!r} is not an identifier",
                        (*path, "params", param),
                        key=True,
                    )
                    block.broken = True
                block.params[param] = (default, (*path, "params", param))
                block.defaults[param] = _Binding(default, (*path, "params", param))
                block.order[param] = len(block.order)
                if default is None:
                    block.required.append(param)
            layers = definition.get("layers")
            if "layers" not in definition:
                self.report("SG101", f"block {name!r}: missing required key 'layers'", path)
                block.broken = True
            elif not isinstance(layers, list) or not layers:
                self.report(
                    "SG103" if not isinstance(layers, list) else "SG104",
                    f"block {name!r}: layers: expected a non-empty list, got {show_value(layers)}",
                    (*path, "layers"),
                )
                block.broken = True
            else:
                block.layers = layers

    def top_items(self) -> list[Any]:
        """The top-level `layers`, if they are a list (the schema reports it otherwise)."""
        items = self.data.get("layers")
        return items if isinstance(items, list) else []

    def used_blocks(self, items: list[Any]) -> Iterator[tuple[int, str]]:
        for index, item in enumerate(items):
            if _is_use(item) and isinstance(item["block"], str) and item["block"] in self.blocks:
                yield index, item["block"]

    def check_nesting(self) -> bool:
        """Refuse recursion and nesting beyond `MAX_BLOCK_DEPTH` (iteratively: no recursion
        limit can be hit by a long chain of blocks). Returns False when refused."""
        depth: dict[str, int] = {}  # finished blocks: levels of blocks below, itself included
        state: dict[str, str] = {}
        ok = True
        for root in self.blocks:
            if root in state:
                continue
            stack: list[tuple[str, Iterator[tuple[int, str]]]] = [
                (root, self.used_blocks(self.blocks[root].layers))
            ]
            state[root] = "open"
            while stack:
                name, children = stack[-1]
                advanced = False
                for index, child in children:
                    if state.get(child) == "open":
                        chain = [n for n, _ in stack]
                        cycle = " -> ".join([*chain[chain.index(child) :], child])
                        self.report(
                            "SG113",
                            f"block {child!r} uses itself: {cycle}",
                            ("blocks", name, "layers", index, "block"),
                            hint="a block cannot contain itself; use repeat to stack copies",
                        )
                        ok = False
                        continue
                    if child not in state:
                        state[child] = "open"
                        stack.append((child, self.used_blocks(self.blocks[child].layers)))
                        advanced = True
                        break
                if advanced:
                    continue
                stack.pop()
                state[name] = "done"
                below = [depth.get(c, 0) for _, c in self.used_blocks(self.blocks[name].layers)]
                depth[name] = 1 + max(below, default=0)
        if not ok:
            return False
        for index, name in self.used_blocks(self.top_items()):
            if depth[name] > MAX_BLOCK_DEPTH:
                self.report(
                    "SG114",
                    f"block {name!r} nests blocks {depth[name]} levels deep, more than the "
                    f"limit of {MAX_BLOCK_DEPTH}",
                    ("layers", index, "block"),
                    hint="flatten some of the nesting",
                )
                return False
        return True

    # -- counting (before anything is built)

    def count(
        self, items: list[Any], bindings: Mapping[str, _Binding], memo: dict[str, int]
    ) -> int:
        """How many layers `items` expand to; repeats multiply, they are never unrolled."""
        total = 0
        for item in items:
            if not _is_use(item):
                total += 1
                continue
            block = self.blocks.get(item["block"]) if isinstance(item["block"], str) else None
            if block is None or block.broken:
                total += 1
                continue
            repeat = self.resolve(item.get("repeat", 1), bindings)
            times = repeat if type(repeat) is int and 1 <= repeat <= self.max_layers else 1
            inner = self.use_bindings(block, item.get("with"), bindings)
            # The defaults are the block's own: the values the use gives decide the count.
            given = inner.maps[0].items()
            key = block.name + repr(sorted((k, repr(v.value)) for k, v in given))
            if key not in memo:
                memo[key] = self.count(block.layers, inner, memo)
            total += times * memo[key]
            if total > self.max_layers:
                return total
        return total

    def check_size(self) -> bool:
        memo: dict[str, int] = {}
        total = 0
        for index, item in enumerate(self.top_items()):
            total += self.count([item], {}, memo)
            if total > self.max_layers:
                self.report(
                    "SG114",
                    f"expanding the blocks would make more than {self.max_layers:,} layers",
                    ("layers", index),
                    hint="lower the repeat counts, or raise the limit (--limit layers=N); it "
                    "protects validate and emit from specs that would take hours or exhaust "
                    "memory",
                )
                return False
        return True

    # -- substitution

    def resolve(self, value: Any, bindings: Mapping[str, _Binding]) -> Any:
        """A value with every ``$param`` string replaced (errors are reported elsewhere)."""
        if isinstance(value, str) and value.startswith("$") and value[1:] in bindings:
            return bindings[value[1:]].value
        if isinstance(value, list):
            return [self.resolve(v, bindings) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, bindings) for k, v in value.items()}
        return value

    def substitute(
        self,
        value: Any,
        bindings: Mapping[str, _Binding],
        path: JsonPath,
        flat: JsonPath | None,
        scope: _Scope,
        record: dict[JsonPath, JsonPath] | None = None,
    ) -> tuple[Any, bool]:
        """Replace ``$param`` strings, recording each replaced value's source path (in
        `record`, by default the flat document's sources) under `flat`.

        Returns the new value and False when a parameter is unknown (reported)."""
        record = self.sources if record is None else record
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name in bindings:
                binding = bindings[name]
                if flat is not None:
                    record[flat] = binding.source
                return binding.value, True
            pool = f"params:{scope.block}"  # every use of a block binds the same names
            params = self.blocks[scope.block].params
            self.report(
                "SG112",
                f"unknown parameter {value!r} in block {scope.block!r}",
                path,
                hint=self.hint(
                    pool,
                    name,
                    params,
                    len(params),
                    lambda: self.listing(
                        "sorted " + pool,
                        "parameters",
                        lambda: sorted(params),
                        "the block has no params",
                    ),
                    prefix="$",
                ),
                uses=scope.uses,
            )
            return value, False
        if isinstance(value, list):
            out, ok = [], True
            for i, v in enumerate(value):
                at = None if flat is None else (*flat, i)
                new, good = self.substitute(v, bindings, (*path, i), at, scope, record)
                out.append(new)
                ok &= good
            return out, ok
        if isinstance(value, dict):
            mapping, ok = {}, True
            for k, v in value.items():
                at = None if flat is None else (*flat, k)
                new, good = self.substitute(v, bindings, (*path, k), at, scope, record)
                mapping[k] = new
                ok &= good
            return mapping, ok
        return value, True

    def use_bindings(
        self, block: _Block, given: Any, outer: Mapping[str, _Binding], path: JsonPath = ()
    ) -> ChainMap[str, _Binding]:
        """Every parameter's value for one use: `with:` entries over the defaults (a view
        of both, in `params` order; unknown entries are reported by `check_with`).

        A value that is exactly ``$outer_param`` keeps the outer value's source, so a
        diagnostic points at where the number is really written."""
        given = given if isinstance(given, dict) else {}
        bindings = {}
        for name, value in given.items():
            if name not in block.params:
                continue
            source: JsonPath = (*path, "with", name)
            if isinstance(value, str) and value.startswith("$") and value[1:] in outer:
                source = outer[value[1:]].source
            bindings[name] = _Binding(self.resolve(value, outer), source)
        return ChainMap(bindings, block.defaults)

    # -- expansion

    def run(self) -> None:
        top = _Scope(block="", prefix="", uses=(), bindings={}, input_name=INPUT)
        items = self.data.get("layers")
        if not isinstance(items, list):
            return
        locals_: dict[str, Any] = {}
        for index, item in enumerate(items):
            path: JsonPath = ("layers", index)
            if _is_use(item):
                self.expand_use(item, path, top, locals_, self.last_name())
                continue
            flat_index = len(self.layers)
            self.sources[("layers", flat_index)] = path
            if isinstance(item, dict):
                item = self.aliased(item)
                if isinstance(item.get("name"), str):
                    locals_[item["name"]] = item["name"]
                    self.top_names.add(item["name"])
                    if item["name"] in self.instance_names_used:
                        self.report(
                            "SG107",
                            f"layer {item['name']!r}: name {item['name']!r} is already used by "
                            "a block instance",
                            (*path, "name"),
                            hint="an instance name stands for the instance's output in "
                            "'inputs' and 'outputs': give the layer another name",
                        )
            self.layers.append(item)
            self.origins.append(Origin(path, document=self.doc))

    def aliased(self, item: dict[str, Any]) -> dict[str, Any]:
        """A top-level layer whose `inputs` name a block instance: its output, instead."""
        refs = item.get("inputs")
        names = [refs] if isinstance(refs, str) else refs
        if not isinstance(names, list) or not any(
            isinstance(r, str) and r in self.aliases for r in names
        ):
            return item
        new = [self.aliases.get(r, r) if isinstance(r, str) else r for r in names]
        return {**item, "inputs": new}

    def last_name(self) -> Any:
        """The flat name of the last layer so far; `_Ref` for an unnamed top-level layer,
        whose generated name is known only when the whole list is (`name_all`)."""
        if not self.layers:
            return INPUT
        last = self.layers[-1]
        if isinstance(last, Hole):
            return last.name
        if isinstance(last, dict) and isinstance(last.get("name"), str):
            return str(last["name"])
        return _Ref(len(self.layers) - 1)

    def name_all(self) -> None:
        """Resolve each `_Ref` to the name the graph pass generates for that layer."""
        names = layer_names([flat_identity(layer) for layer in self.layers])

        def real(value: Any) -> Any:
            return names[value.index] if isinstance(value, _Ref) else value

        for layer in self.layers:
            refs = layer.get("inputs") if isinstance(layer, dict) else None
            if isinstance(refs, list) and any(isinstance(r, _Ref) for r in refs):
                layer["inputs"] = [real(r) for r in refs]
        for key, value in self.aliases.items():
            self.aliases[key] = real(value)

    def expand_use(
        self,
        item: dict[str, Any],
        path: JsonPath,
        scope: _Scope,
        locals_: dict[str, Any],
        previous: Any,
    ) -> None:
        """Expand one block use (all its repeats) at `path` inside `scope`."""
        ok = True
        use = item
        # Where each value of the use is written: a parameter's value is reported at
        # the with: entry that gave it (SPEC 5.3), like a layer's.
        came_from: dict[JsonPath, JsonPath] = {}
        if scope.uses:  # inside a block: its parameters may be used here too
            substituted, ok = self.substitute(item, scope.bindings, path, (), scope, came_from)
            use = substituted if isinstance(substituted, dict) else item

        def at(key: str) -> JsonPath:
            return came_from.get((key,), (*path, key))

        label = self.use_label(use)
        for key in use:
            if key not in USE_KEYS:
                self.report(
                    "SG102",
                    f"{label}: unknown key {key!r}",
                    (*path, key),
                    hint=_hint(key, list(USE_KEYS), _listing("allowed keys", list(USE_KEYS), "")),
                    key=True,
                    uses=scope.uses,
                )
                ok = False
        block = self.block_of(use, path, label, scope)
        ok &= block is not None
        repeat = use.get("repeat", 1)
        if type(repeat) is not int:
            self.report(
                "SG103",
                f"{label}: repeat: expected an int, got {show_value(repeat)}",
                at("repeat"),
                uses=scope.uses,
            )
            ok, repeat = False, 1
        elif not 1 <= repeat <= self.max_layers:
            self.report(
                "SG104",
                f"{label}: repeat: expected a value between 1 and {self.max_layers}, got {repeat}",
                at("repeat"),
                uses=scope.uses,
            )
            ok, repeat = False, 1
        source = self.use_input(use, path, label, scope, locals_, previous)
        ok &= source is not None
        names = self.instance_names(use, path, label, scope, repeat, block, at("name"))
        ok &= names is not None
        if block is not None:
            ok &= self.check_with(use, path, label, block, scope)
        if not ok or block is None or names is None or source is None:
            # Already reported: one hole stands for the whole use, so that layers after
            # it are checked without a cascade of errors about it.
            hole_name = names[-1][1] if names else f"<block use at {path}>"
            for local, full in names or []:
                self.aliases[full] = hole_name
                locals_[local] = hole_name
            if isinstance(use.get("name"), str):
                locals_[use["name"]] = hole_name
                self.aliases[scope.qualify(use["name"])] = hole_name
            self.holes.add(len(self.layers))
            self.sources[("layers", len(self.layers))] = path
            self.layers.append(Hole(hole_name))
            self.origins.append(Origin(path, scope.uses, document=self.doc))
            return
        bindings = self.use_bindings(block, item.get("with"), scope.bindings, path)
        values = ParamValues(bindings, block.order)
        refs = use.get("inputs")
        input_source: JsonPath | None = None
        if refs is not None:
            input_source = (*at("inputs"), 0) if isinstance(refs, list) else at("inputs")
        for local, full in names:
            instance = BlockUse(
                block=block.name,
                instance=full,
                local=local,
                path=path,
                bindings=values,
                document=self.doc,
            )
            inner = _Scope(
                block=block.name,
                prefix=full,
                uses=(*scope.uses, instance),
                bindings=bindings,
                input_name=source,
                input_source=input_source,
            )
            input_source = None  # the next instance reads this one
            self.expand_block(block, inner)
            source = self.last_name()
            self.aliases[full] = source
            locals_[local] = source
        if len(names) > 1 and isinstance(use.get("name"), str) and "{i}" not in use["name"]:
            # `name: stage, repeat: 3` -> stage_1..stage_3; `stage` itself means the last.
            self.aliases[scope.qualify(use["name"])] = source
            locals_[use["name"]] = source

    def use_label(self, use: dict[str, Any]) -> str:
        """``block use 'stage1' (basic)``: how messages name a use."""
        name, block = use.get("name"), use.get("block")
        shown = repr(block)[1:-1] if isinstance(block, str) else "block"
        return f"block use {name!r} ({shown})" if isinstance(name, str) else f"block use ({shown})"

    def block_of(
        self, use: dict[str, Any], path: JsonPath, label: str, scope: _Scope
    ) -> _Block | None:
        name = use.get("block")
        if not isinstance(name, str):
            self.report(
                "SG103",
                f"{label}: block: expected a block name (string), got {show_value(name)}",
                (*path, "block"),
                uses=scope.uses,
            )
            return None
        block = self.blocks.get(name)
        if block is None:
            self.report(
                "SG111",
                f"{label}: no block named {name!r}",
                (*path, "block"),
                hint=self.hint(
                    "blocks",
                    name,
                    self.blocks,
                    len(self.blocks),
                    lambda: self.listing(
                        "blocks", "blocks", lambda: sorted(self.blocks), "define it under 'blocks:'"
                    ),
                ),
                uses=scope.uses,
            )
            return None
        return None if block.broken else block

    def check_with(
        self, use: dict[str, Any], path: JsonPath, label: str, block: _Block, scope: _Scope
    ) -> bool:
        given = use.get("with", {})
        if given is None:
            given = {}
        if not isinstance(given, dict):
            self.report(
                "SG103",
                f"{label}: with: expected a mapping of parameter values, got {show_value(given)}",
                (*path, "with"),
                uses=scope.uses,
            )
            return False
        ok = True
        pool = f"params:{block.name}"
        for key in given:
            if key not in block.params:
                self.report(
                    "SG112",
                    f"{label}: block {block.name!r} has no parameter {key!r}",
                    (*path, "with", key),
                    hint=self.hint(
                        pool,
                        key,
                        block.params,
                        len(block.params),
                        lambda: self.listing(
                            pool, "parameters", lambda: block.params.keys(), "it takes none"
                        ),
                    ),
                    key=True,
                    uses=scope.uses,
                )
                ok = False
        # Only as many required names as the message shows are looked for: a use of a
        # block with thousands of required parameters costs what the use writes.
        given_required = sum(1 for p in given if p in block.params and block.params[p][0] is None)
        absent = len(block.required) - given_required
        if absent:
            missing = (p for p in block.required if p not in given)
            self.report(
                "SG112",
                f"{label}: missing required parameter(s) of block {block.name!r}: "
                + _names(missing, absent),
                path,
                hint="give them under 'with:'; a parameter whose default is null is required",
                uses=scope.uses,
            )
            ok = False
        return ok

    def use_input(
        self,
        use: dict[str, Any],
        path: JsonPath,
        label: str,
        scope: _Scope,
        locals_: dict[str, Any],
        previous: Any,
    ) -> Any:
        """The flat name of what feeds the first instance (its `inputs`, else the previous)."""
        refs = use.get("inputs")
        if refs is None:
            return previous
        names = [refs] if isinstance(refs, str) else refs
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.report(
                "SG103",
                f"{label}: inputs: expected a layer name, got {show_value(refs)}",
                (*path, "inputs"),
                uses=scope.uses,
            )
            return None
        if len(names) != 1:
            self.report(
                "SG109",
                f"{label}: a block takes exactly one input, got {len(names)}",
                (*path, "inputs"),
                hint="merge the inputs first (add, concatenate, ...) and feed the merge",
                uses=scope.uses,
            )
            return None
        return self.reference(names[0], (*path, "inputs"), label, scope, locals_)

    def reference(
        self, name: str, path: JsonPath, label: str, scope: _Scope, locals_: dict[str, Any]
    ) -> Any:
        if name == INPUT:
            return scope.input_name
        if name in locals_:
            return locals_[name]
        if not scope.uses:  # top level: the graph pass reports unknown names with the rest
            return self.aliases.get(name, name)
        self.report(
            "SG108",
            f"{label}: input {name!r} is not a layer of block {scope.block!r} before it",
            path,
            hint=self.hint(
                f"locals:{scope.block}",  # in block order: the same names in every use
                name,
                chain((INPUT,), locals_),
                1 + len(locals_),
                lambda: "inside a block, name 'input' or an earlier layer of the same block",
            ),
            uses=scope.uses,
        )
        return None

    def instance_names(
        self,
        use: dict[str, Any],
        path: JsonPath,
        label: str,
        scope: _Scope,
        repeat: int,
        block: _Block | None,
        name_path: JsonPath,
    ) -> list[tuple[str, str]] | None:
        """(local, expanded) name of each instance, or None (reported)."""
        name = use.get("name")
        if name is None:
            base = block.name if block is not None else "block"
            key = (scope.prefix, base)
            self.counters[key] = self.counters.get(key, 0) + 1
            name = f"{base}_{self.counters[key]}"
        if not isinstance(name, str):
            self.report(
                "SG103",
                f"{label}: name: expected a string, got {show_value(name)}",
                name_path,
                uses=scope.uses,
            )
            return None
        if "{i}" in name:
            locals_ = [name.replace("{i}", str(i)) for i in range(1, repeat + 1)]
        elif repeat > 1:
            locals_ = [f"{name}_{i}" for i in range(1, repeat + 1)]
        else:
            locals_ = [name]
        out = []
        for local in locals_:
            full = scope.qualify(local)
            problem = self.name_problem(local, full, allow_digit=bool(scope.uses))
            if problem:
                self.report(
                    "SG115",
                    f"{label}: instance name {full!r} {problem}",
                    name_path if "name" in use else path,
                    hint="instance names are identifiers; '{i}' is the only placeholder",
                    uses=scope.uses,
                )
                return None
            taken = full in self.instance_names_used or (not scope.uses and full in self.top_names)
            if taken:
                self.report(
                    "SG107",
                    f"{label}: instance name {full!r} is already used by another block use "
                    "or a layer",
                    name_path if "name" in use else path,
                    hint="give each use its own name (or '{i}' with repeat)",
                    uses=scope.uses,
                )
                return None
            out.append((local, full))
        self.instance_names_used.update(full for _, full in out)
        return out

    @staticmethod
    def name_problem(local: str, full: str, *, allow_digit: bool) -> str | None:
        if not _LOCAL.match(local) or (not allow_digit and not _IDENT.match(local)):
            return "is not an identifier"
        if not _IDENT.match(full) or keyword.iskeyword(full):
            return "is not an identifier"
        if len(full) > MAX_NAME:
            return f"is longer than {MAX_NAME} characters"
        if full == INPUT:
            return "is reserved for the model input"
        return None

    def expand_block(self, block: _Block, scope: _Scope) -> None:
        locals_: dict[str, Any] = {}
        generated: dict[str, int] = {}
        taken = {
            item["name"]
            for item in block.layers
            if isinstance(item, dict) and not _is_use(item) and isinstance(item.get("name"), str)
        }
        previous = scope.input_name
        for index, item in enumerate(block.layers):
            path: JsonPath = (*block.path, "layers", index)
            if _is_use(item):
                self.expand_use(item, path, scope, locals_, previous)
                previous = self.last_name()
                continue
            flat_index = len(self.layers)
            flat: JsonPath = ("layers", flat_index)
            self.sources[flat] = path
            layer, ok = self.substitute(item, scope.bindings, path, flat, scope)
            origin_local = ""
            if isinstance(layer, dict):
                layer = dict(layer)
                local = layer.get("name")
                if local is None:
                    kind = layer.get("type")
                    kind = kind if isinstance(kind, str) and _IDENT.match(kind) else "layer"
                    while True:
                        generated[kind] = generated.get(kind, 0) + 1
                        local = f"{kind}_{generated[kind]}"
                        if local not in taken:
                            break
                if isinstance(local, str):
                    full = scope.qualify(local)
                    problem = self.name_problem(local, full, allow_digit=True)
                    if problem:
                        self.report(
                            "SG115",
                            f"layer {full!r} in block {scope.block!r}: name {problem}",
                            (*path, "name") if "name" in layer else path,
                            hint="local names in a block may start with a digit, but the "
                            "expanded '<instance>_<local>' name must be an identifier of at "
                            f"most {MAX_NAME} characters",
                            uses=scope.uses,
                        )
                        ok = False
                    layer["name"] = full
                    locals_[local] = full
                    origin_local = local
                refs = layer.get("inputs")
                if refs is None:
                    wanted = [previous]
                    if previous == scope.input_name and scope.input_source is not None:
                        self.sources[(*flat, "inputs", 0)] = scope.input_source
                else:
                    names = [refs] if isinstance(refs, str) else refs
                    wanted = []
                    if isinstance(names, list) and all(isinstance(n, str) for n in names):
                        for i, ref in enumerate(names):
                            if ref == INPUT and scope.input_source is not None:
                                self.sources[(*flat, "inputs", i)] = scope.input_source
                            target = self.reference(
                                ref,
                                (*path, "inputs", i)
                                if isinstance(refs, list)
                                else (*path, "inputs"),
                                f"layer {layer['name']!r}",
                                scope,
                                locals_,
                            )
                            if target is None:
                                ok = False
                            else:
                                wanted.append(target)
                    else:
                        wanted = names  # ill-typed: the schema reports it
                if wanted == [self.last_name()] and refs is None:
                    layer.pop("inputs", None)
                else:
                    layer["inputs"] = wanted
            if not ok:
                name = layer["name"] if isinstance(layer, dict) else scope.qualify(f"layer{index}")
                self.holes.add(flat_index)
                self.layers.append(Hole(str(name)))
            else:
                self.layers.append(layer)
            self.origins.append(Origin(path, scope.uses, origin_local, document=self.doc))
            previous = self.last_name()

    def outputs(self) -> Any:
        raw = self.data.get("outputs")
        names = [raw] if isinstance(raw, str) else raw
        if isinstance(names, list):
            return [self.aliases.get(n, n) if isinstance(n, str) else n for n in names]
        return raw

    def unused_blocks(self) -> None:
        used: set[str] = set()
        pending = [b for _, b in self.used_blocks(self.top_items())]
        while pending:
            name = pending.pop()
            if name not in used:
                used.add(name)
                pending.extend(b for _, b in self.used_blocks(self.blocks[name].layers))
        for name in self.blocks:
            if name not in used:
                self.report(
                    "SG302",
                    f"block {name!r} is defined but never used",
                    ("blocks", name),
                    hint="use it in 'layers' ({block: " + name + "}) or remove it; an unused "
                    "block is not checked",
                    key=True,
                    severity=Severity.WARNING,
                )


@dataclass(frozen=True, slots=True)
class _Scope:
    block: str  # '' at the top level
    prefix: str  # expanded instance name; '' at the top level
    uses: tuple[BlockUse, ...]
    bindings: Mapping[str, _Binding]
    input_name: str  # the flat name that `input` means here
    input_source: JsonPath | None = None  # where the use names its input, if it does

    def qualify(self, local: str) -> str:
        return f"{self.prefix}_{local}" if self.prefix else local


def expand(document: Document, file: str = "", limits: Limits = DEFAULT_LIMITS) -> Expansion:
    """Expand the blocks of `document`; a spec without blocks passes through unchanged."""
    data = document.data
    layers = data.get("layers")
    has_uses = isinstance(layers, list) and any(_is_use(item) for item in layers)
    if "blocks" not in data and not has_uses:
        count = len(layers) if isinstance(layers, list) else 0
        origins = [Origin(("layers", i), document=document) for i in range(count)]
        return Expansion(document, origins)
    expander = _Expander(document, file, limits)
    expander.read_blocks()
    if not expander.check_nesting() or not expander.check_size():
        return Expansion(None, diagnostics=expander.diagnostics)
    expander.unused_blocks()
    expander.run()
    expander.name_all()
    flat_data = {k: v for k, v in data.items() if k != "blocks"}
    if isinstance(layers, list):  # else the schema reports it, as without blocks
        flat_data["layers"] = expander.layers
    if "outputs" in data:
        flat_data["outputs"] = expander.outputs()
    sources = expander.sources
    for key in flat_data:
        if key != "layers":
            sources.setdefault((key,), (key,))
    sources[("layers",)] = ("layers",)
    flat = ExpandedDocument(flat_data, raw=document.raw, source=document, sources=sources)
    return Expansion(
        flat,
        expander.origins,
        expander.diagnostics,
        expander.holes,
    )


# --- writing the flat spec (``specgen expand``) ---------------------------------------------

# Plain words that YAML 1.2's core schema would read as something other than a string.
_YAML_WORDS = {"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"}


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _IDENT.match(text) and text not in _YAML_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a YAML 1.2 double-quoted scalar


def _yaml_flow(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_yaml_scalar(k)}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
        )
    return _yaml_scalar(value)


def flat_yaml(data: dict[str, Any]) -> str:
    """The flat spec as YAML, one layer a line in flow style, as specs are written."""
    lines = []
    for key, value in data.items():
        if key == "layers" and isinstance(value, list):
            lines.append("layers:")
            lines.extend(f"  - {_yaml_flow(layer)}" for layer in value)
        else:
            lines.append(f"{_yaml_scalar(key)}: {_yaml_flow(value)}")
    return "\n".join(lines) + "\n"


def flat_json(data: dict[str, Any]) -> str:
    """The flat spec as JSON, one layer a line."""
    parts = []
    for key, value in data.items():
        if key == "layers" and isinstance(value, list):
            layers = ",\n".join(f"    {json.dumps(layer)}" for layer in value)
            parts.append(f'  "layers": [\n{layers}\n  ]')
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
