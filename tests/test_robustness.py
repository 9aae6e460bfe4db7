"""Robustness: no document, however broken, makes specgen crash, print a traceback or hang.

For every document made here, every command (``validate`` as text, JSON and GitHub
annotations, ``summary`` as text and JSON, ``expand``, ``emit --target keras|pytorch``)
exits 0 or 1 (never 3, the exit code of a bug), never prints "Traceback", and finishes
within `SECONDS` of CPU time (CPU, not wall-clock time, and a slow run is timed again up to
`RETRIES` times, so that a loaded CI machine cannot make the test flaky). On top of that:

- ``--format json`` output is strict JSON (`json.loads` refusing NaN and Infinity);
- the commands agree on whether a file is valid;
- a failing ``emit -o OUT`` writes nothing and leaves no temporary file, and fails on a
  valid spec only with an SG4xx finding; a successful one writes Python whose data flow
  is the spec's: every layer reads the layers the spec says, in order (the module is read
  symbolically, see `keras_wiring` and `torch_wiring`; no framework is imported);
- ``expand`` prints a spec that validates, with the same layers, wiring, shapes and counts.

The documents come from five sources, one test each:

- `mutated_documents`: the valid specs in specs/ and tests/cases/, with keys deleted,
  duplicated and added, values replaced by values of other types (huge, negative, zero,
  float and boolean numbers; long strings, control characters, U+2028, quotes,
  non-ASCII, lone surrogates), layers swapped, copied, retyped and renamed (also to
  names the emitted code uses itself, such as ``x`` or ``layers``), random
  ``inputs``/``outputs`` references; written as JSON or YAML (flow, block, or PyYAML's
  own), sometimes damaged as text;
- `schema_documents`: documents that follow the JSON Schema (`specgen.spec.json_schema`):
  types, enums, bounds and required keys, blocks with parameters, merges fed by earlier
  layers; nearly valid, with an occasional value off the schema;
- `raw_documents`: random bytes, truncated and damaged valid files, YAML/JSON syntax
  soup, byte-order marks, NULs, deep nesting, numbers such as 1e999 and 10**400;
- `block_documents`: blocks using blocks (cycles included), huge ``repeat``, deep
  nesting of uses, ``$param`` everywhere, ``{i}`` in odd places, instance names as
  inputs, merges of many inputs, self-references;
- `extreme_documents`: valid chains of layers whose numbers sit at the edges of the
  schema (strides, dilations and kernels up to 2**31 - 1, axes of 2**20, 5e-324 and
  1.8e308), for the arithmetic of shapes, receptive fields, counts and emitted literals.

Commands run in-process (`specgen.cli.main`) for speed; `test_real_process` runs a few
documents through the console script as well. `REGRESSIONS` holds documents that once
broke a property, checked on every run.

The number of examples per source comes from ``SPECGEN_ROBUST_EXAMPLES`` (default
`DEFAULT_EXAMPLES`, a CI budget of under a minute for the whole file). CI runs
derandomised, so it cannot flake; ``SPECGEN_ROBUST_RANDOM=1`` explores fresh random data
instead (and keeps failures in Hypothesis' example database). A big run::

    SPECGEN_ROBUST_EXAMPLES=3000 SPECGEN_ROBUST_RANDOM=1 \\
        nice .venv/bin/python -m pytest tests/test_robustness.py -q --hypothesis-show-statistics

A failure prints the document (`hypothesis.note`). Put a minimal copy of it where it stays
fixed: an invalid spec into tests/invalid with its expected findings
(tests/test_invalid_specs.py), a file that is slow or large into tests/hostile
(tests/test_hostile.py), anything else into `REGRESSIONS`.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import specgen.cli
from specgen.layers import LAYER_TYPES
from specgen.load import SUFFIXES, load_document
from specgen.spec import json_schema

ROOT = Path(__file__).resolve().parent.parent
SEED_FOLDERS = [ROOT / "specs", ROOT / "specs" / "zoo", ROOT / "tests" / "cases"]

DEFAULT_EXAMPLES = 25
EXAMPLES = int(os.environ.get("SPECGEN_ROBUST_EXAMPLES", DEFAULT_EXAMPLES))
RANDOM = os.environ.get("SPECGEN_ROBUST_RANDOM", "") not in ("", "0")
SECONDS = 1.0  # CPU time of one command on one document (the best of 1 + RETRIES runs)
RETRIES = 2

ROBUST = settings(
    max_examples=EXAMPLES,
    deadline=None,  # timed per command below, in CPU time
    derandomize=not RANDOM,
    # No explain phase: it traces every line, which makes the timing meaningless.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    database=settings.default.database if RANDOM else None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


# --- running the CLI ------------------------------------------------------------------------


@dataclass
class Run:
    args: list[str]
    code: int
    out: str
    err: str
    seconds: float

    def show(self) -> str:
        return (
            f"$ specgen {' '.join(self.args)}\nexit {self.code} after {self.seconds:.2f} s CPU\n"
            f"--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"
        )


def run_cli(args: list[str]) -> Run:
    """`specgen.cli.main` in this process; output captured, CPU time measured."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    start = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            specgen.cli.main(args)
        except SystemExit as done:
            code = done.code
    seconds = time.process_time() - start
    return Run(args, 0 if code is None else int(code), out.getvalue(), err.getvalue(), seconds)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """`json.loads` that refuses NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


def check_run(run: Run) -> Run:
    """The properties every command has on every document: exit 0 or 1 (the file exists,
    so a usage error, 2, would be wrong too), no traceback, within the time bound."""
    if run.code == 3:  # show where it broke
        debug = run_cli(["--debug", *run.args])
        raise AssertionError(f"internal error (exit 3):\n{run.show()}\n{debug.err[-6000:]}")
    assert run.code in (0, 1), run.show()
    assert "Traceback" not in run.out + run.err, run.show()
    assert "internal error" not in run.err, run.show()
    for _ in range(RETRIES):  # a slow run is timed again: a pause of the machine is not
        if run.seconds < SECONDS:  # specgen's; a slow specgen is slow every time
            break
        again = run_cli(run.args)
        assert (again.code, again.out) == (run.code, run.out), again.show()
        run.seconds = min(run.seconds, again.seconds)
    assert run.seconds < SECONDS, run.show()
    return run


def _layer_rows(summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            layer["name"],
            layer["type"],
            layer["inputs"],
            layer["output_shape"],
            layer["params"],
            layer["macs"],
        )
        for layer in summary["layers"]
    ]


def check_document(data: bytes, suffix: str) -> None:
    """Every command on one document, and how their results must agree."""
    with tempfile.TemporaryDirectory(prefix="specgen-robust-") as folder:
        spec = Path(folder) / f"spec{suffix}"
        spec.write_bytes(data)
        name = str(spec)

        text = check_run(run_cli(["validate", name]))
        valid = text.code == 0

        as_json = check_run(run_cli(["validate", "--format", "json", name]))
        assert as_json.code == text.code, as_json.show()
        payload = strict_json(as_json.out)
        [file] = payload["files"]
        assert file["valid"] is valid, as_json.show()
        assert (payload["errors"] == 0) is valid, as_json.show()
        for finding in file["diagnostics"]:
            assert finding["code"].startswith("SG"), as_json.show()

        github = check_run(run_cli(["validate", "--strict", "--format", "github", name]))
        assert github.code >= text.code, github.show()

        summary = check_run(run_cli(["summary", "--format", "json", name]))
        assert summary.code == text.code, summary.show()
        table = strict_json(summary.out) if valid else None
        if not valid:
            assert summary.out == "", summary.show()
        check_run(run_cli(["summary", name]))

        expand = check_run(run_cli(["expand", name]))
        assert expand.code == text.code, expand.show()
        if table is not None:
            check_expanded(Path(folder), suffix, expand.out, table)

        for target in ("keras", "pytorch"):
            check_emit(Path(folder), name, target, table)


def check_expanded(folder: Path, suffix: str, flat: str, table: dict[str, Any]) -> None:
    """`expand` prints a valid spec with the same layers, wiring, shapes and counts; when
    the spec had blocks, the flat spec's emitted code is checked as well."""
    again = folder / f"expanded{suffix if suffix == '.json' else '.yaml'}"
    again.write_text(flat, encoding="utf-8")
    _note(f"expanded:\n{flat[:3000]}")
    validate = check_run(run_cli(["validate", str(again)]))
    assert validate.code == 0, validate.show()
    summary = check_run(run_cli(["summary", "--format", "json", str(again)]))
    flat_table = strict_json(summary.out)
    assert _layer_rows(flat_table) == _layer_rows(table), summary.show()
    if _has_blocks(table):
        for target in ("keras", "pytorch"):
            check_emit(folder, str(again), target, flat_table)
    again.unlink()


def _has_blocks(table: dict[str, Any]) -> bool:
    return any(layer["block"] for layer in table["layers"])


def check_emit(folder: Path, spec: str, target: str, table: dict[str, Any] | None) -> None:
    """`emit -o OUT`: on failure nothing is written (a valid spec fails only for what the
    target cannot express); on success OUT is Python whose data flow is the spec's."""
    out = folder / f"model_{target}.py"
    before = sorted(p.name for p in folder.iterdir())
    emit = check_run(run_cli(["emit", spec, "--target", target, "-o", str(out)]))
    after = sorted(p.name for p in folder.iterdir())
    if emit.code != 0:
        # Nothing written, no temporary file left behind.
        assert after == before, emit.show()
        assert emit.out == "", emit.show()
        if table is not None:
            assert "error[SG4" in emit.err, emit.show()
        return
    assert table is not None, emit.show()
    assert after == sorted([*before, out.name]), emit.show()
    source = out.read_text(encoding="utf-8")
    out.unlink()
    _note(f"emitted for {target}:\n{source[-4000:]}")
    module = ast.parse(source)  # the emitted module is Python
    expected = spec_wiring(table)
    code = keras_wiring(module) if target == "keras" else torch_wiring(module)
    wiring = resolve(code, set(expected[0]))
    differences = [
        f"  {layer}: spec {inputs} code {wiring[0].get(layer)}"
        for layer, inputs in expected[0].items()
        if wiring[0].get(layer) != inputs
    ]
    if wiring[1] != expected[1]:
        differences.append(f"  outputs: spec {expected[1]} code {wiring[1]}")
    assert not differences, f"the {target} code is wired differently from the spec:\n" + "\n".join(
        differences
    )


# --- the data flow of emitted code ----------------------------------------------------------
#
# The emitted module is read, not run: its statements are followed symbolically, values
# standing for the layer that made them, into block functions (Keras) and block classes
# (PyTorch). Emitted code may add helper layers around a spec layer (``conv_pad`` before
# it, ``dense_act`` after it): each spec layer's inputs are found by following the code's
# values back from the layer, through helpers, to the nearest spec layer (or the input).


Wiring = tuple[dict[str, list[str]], list[str]]  # each layer's inputs; the outputs


def spec_wiring(table: dict[str, Any]) -> Wiring:
    layers = {layer["name"]: list(layer["inputs"]) for layer in table["layers"][1:]}
    return layers, list(table["outputs"])


def resolve(code: Wiring, spec_names: set[str]) -> Wiring:
    def back(node: str) -> str:
        seen = set()
        while node not in spec_names and node != "input":
            assert node not in seen and len(edges.get(node, [])) == 1, (node, edges.get(node))
            seen.add(node)
            node = edges[node][0]
        return node

    edges, outputs = code
    layers = {n: [back(i) for i in args] for n, args in edges.items() if n in spec_names}
    return layers, [back(o) for o in outputs]


def _names_in(node: ast.AST) -> list[str]:
    """Variable names read by an expression, in order (``self`` aside)."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id != "self":
            found.append((sub.lineno, sub.col_offset, sub.id))
    return [name for _, _, name in sorted(found)]


def _function(module: ast.Module | ast.ClassDef, name: str) -> ast.FunctionDef:
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no function {name} in the emitted code")


class _Str(str):
    """A string value (a layer name being built), as opposed to a tensor (a `str`)."""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    found = [k.value for k in call.keywords if k.arg == name]
    return found[0] if found else None


def keras_wiring(module: ast.Module) -> Wiring:
    """Keras: ``v = layers.X(..., name=N)(args)`` builds layer N on args; ``v = block(x,
    ..., name=N)`` runs a block function; names are string constants or sums of them."""
    functions = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef)}
    edges: dict[str, list[str]] = {}

    def string(expr: ast.expr | None, env: dict[str, Any]) -> str:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name) and isinstance(env.get(expr.id), _Str):
            return str(env[expr.id])
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return string(expr.left, env) + string(expr.right, env)
        raise AssertionError(f"unexpected name expression {ast.unparse(expr or ast.Pass())}")

    def tensors(expr: ast.expr, env: dict[str, Any]) -> list[str]:
        return [
            env[n]
            for n in _names_in(expr)
            if isinstance(env.get(n), str) and not isinstance(env[n], _Str)
        ]

    def run(function: ast.FunctionDef, env: dict[str, Any]) -> Any:
        for statement in function.body:
            if isinstance(statement, ast.Return):
                return statement.value
            if not isinstance(statement, ast.Assign):
                continue
            [target] = statement.targets
            call = statement.value
            assert isinstance(target, ast.Name) and isinstance(call, ast.Call), ast.unparse(call)
            if isinstance(call.func, ast.Attribute) and call.func.attr == "Input":
                env[target.id] = "input"
            elif isinstance(call.func, ast.Call):  # layers.X(...)(args)
                layer = string(_keyword(call.func, "name"), env)
                edges[layer] = [t for arg in call.args for t in tensors(arg, env)]
                env[target.id] = layer
            elif isinstance(call.func, ast.Name) and call.func.id in functions:  # a block
                callee = functions[call.func.id]
                inner: dict[str, Any] = {}
                for param, arg in zip(callee.args.args, call.args, strict=False):
                    inner[param.arg] = tensors(arg, env)[0]
                inner["name"] = _Str(string(_keyword(call, "name"), env))
                returned = run(callee, inner)
                assert isinstance(returned, ast.Name), "a block function returns one tensor"
                env[target.id] = inner[returned.id]
            else:
                raise AssertionError(f"unexpected statement {ast.unparse(statement)}")
        raise AssertionError(f"{function.name} returns nothing")

    # A deep network is built by build_graph, called with a raised recursion limit.
    builder = functions.get("build_graph") or functions["build_model"]
    env: dict[str, Any] = {}
    model = run(builder, env)
    assert isinstance(model, ast.Call), "build_model returns keras.Model(...)"
    outputs = _keyword(model, "outputs")
    assert outputs is not None
    return edges, tensors(outputs, env)


def torch_wiring(module: ast.Module) -> Wiring:
    """PyTorch: ``v = self.attr(args)`` in forward runs the submodule `attr`: a layer named
    after its attribute (or the class's ``spec_names`` entry), or a block's class, whose
    forward runs in turn with the instance's name as prefix."""
    classes = {n.name: n for n in module.body if isinstance(n, ast.ClassDef)}
    edges: dict[str, list[str]] = {}

    def blocks_of(cls: ast.ClassDef) -> dict[str, ast.ClassDef]:
        """The attributes of `cls` that hold a block's class."""
        found = {}
        for statement in ast.walk(_function(cls, "__init__")):
            if (
                isinstance(statement, ast.Assign)
                and isinstance(statement.targets[0], ast.Attribute)
                and isinstance(statement.value, ast.Call)
                and isinstance(statement.value.func, ast.Name)
                and statement.value.func.id in classes
            ):
                block = classes[statement.value.func.id]
                if (ast.get_docstring(block) or "").startswith("Block "):
                    found[statement.targets[0].attr] = block
        return found

    def renames(cls: ast.ClassDef) -> dict[str, str]:
        for statement in cls.body:
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.target.id == "spec_names"
                and statement.value is not None
            ):
                value = ast.literal_eval(statement.value)
                assert isinstance(value, dict)
                return value
        return {}

    def run(cls: ast.ClassDef, prefix: str, source: str) -> str:
        forward = _function(cls, "forward")
        env = {forward.args.args[1].arg: source}
        blocks, names = blocks_of(cls), renames(cls)
        for statement in forward.body:
            if isinstance(statement, ast.Return):
                assert statement.value is not None
                returned = [env[n] for n in _names_in(statement.value)]
                return returned if prefix == "" else returned[0]  # type: ignore[return-value]
            assert isinstance(statement, ast.Assign), ast.unparse(statement)
            [target] = statement.targets
            call = statement.value
            assert isinstance(target, ast.Name) and isinstance(call, ast.Call)
            assert isinstance(call.func, ast.Attribute), ast.unparse(call)
            assert isinstance(call.func.value, ast.Name) and call.func.value.id == "self"
            attr = call.func.attr
            args = [env[n] for arg in call.args for n in _names_in(arg)]
            local = prefix + names.get(attr, attr)
            if attr in blocks:
                [arg] = args
                env[target.id] = run(blocks[attr], local + "_", arg)
            else:
                edges[local] = args
                env[target.id] = local
        raise AssertionError(f"{cls.name}.forward returns nothing")

    [returned] = [s for s in _function(module, "build_model").body if isinstance(s, ast.Return)]
    assert isinstance(returned.value, ast.Call) and isinstance(returned.value.func, ast.Name)
    outputs: Any = run(classes[returned.value.func.id], "", "input")
    return edges, list(outputs)


# --- JSON values and documents --------------------------------------------------------------


class Pairs(list):  # type: ignore[type-arg]
    """A mapping written as (key, value) pairs: the only way to write a duplicate key."""


# fmt: off
INTERESTING_INTS = [
    0, 1, -1, 2, 3, 7, -2, 2**31 - 1, 2**31, -(2**31), 2**32 + 1, 2**53 + 1, 2**63,
    -(2**63) - 1, 2**64, 10**18, 10**30, 10**99, 10**100, 10**101, 10**400, 1 << 20,
    (1 << 20) + 1, 100_000, 100_001,
]
# fmt: on
# fmt: off
INTERESTING_FLOATS = [
    0.0, -0.0, 0.5, 1.0, 3.0, -1.5, 1e-7, 5e-324, 1e-320, 1e308, 1.7976931348623157e308,
    2.5e15, float("inf"), float("-inf"), float("nan"),
]
# fmt: on
# fmt: off
ODD_STRINGS = [
    "", " ", "\x00", "\x07", "\x1b[31mred\x1b[0m", "\n", "a\nb", "\r\n", "\t", "\u2028",
    "x\u2029y", "\ufeff", "\u200b", "\u202e", '"', "'", '"quoted"', "\\", "\\n", "€",
    "naïve", "名前", "\U0001d518\U0001d52b\U0001d526", "\U0001f600", "\ud800",
    "x\udc00", "a" * 41, "b" * 1000,
    "c" * 20_000, "input", "output", "self", "forward", "_x", "__init__", "class", "None",
    "$", "$filters", "$$x", "$input", "{i}", "x{i}y", "{i}{i}", "{ i }", "{", "}", "{i",
    "null", "Null", "~", "true", "yes", "no", "on", "off", "1e5", "0x1F", "0o17", "0b11",
    ".inf", "-.inf", ".nan", "NaN", "Infinity", "1_000", "3", "3.0", "-", "- a", ": ",
    "a: b", "#", "# comment", "&a", "*a", "!!str", "!x", "%YAML", "---", "...", "@", "`",
    "|", ">", "<<", "[1, 2]", "{a: 1}", "same", "valid", "relu", "softmax", "nearest",
    "conv2d", "dense",
]
# fmt: on


# Names the emitted code itself uses (variables, modules, parameters, helpers): a layer
# called so must not change what the code computes.
HAZARD_NAMES = [
    "x", "x_1", "inputs", "outputs", "name", "filters", "layers", "keras", "torch", "nn",
    "out", "model", "build_model", "build_graph", "sys", "limit", "self", "F", "Add",
    "forward", "training", "input_1", "act", "pad", "conv_pad", "dense_act",
]  # fmt: skip


def _text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD_STRINGS),
        st.sampled_from(HAZARD_NAMES),
        st.text(max_size=12),
        st.text(alphabet="abcxyz_0123{}$", max_size=12),
    )


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(INTERESTING_INTS),
        st.integers(-10, 300),
        st.sampled_from(INTERESTING_FLOATS),
        st.floats(allow_nan=True, allow_infinity=True),
        _text(),
    )


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(_text(), children, max_size=4))


SCALARS = _scalars()
JSON_VALUES = st.recursive(SCALARS, _containers, max_leaves=12)


def scalars() -> st.SearchStrategy[Any]:
    return SCALARS


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, NaN and the infinities included, biased to odd ones."""
    return JSON_VALUES


def chance(draw: st.DrawFn, n: int) -> bool:
    """True about once in `n` draws. (Not `integers(0, n - 1) == 0`: Hypothesis draws the
    bounds of a range far more often than the values between them.)"""
    return draw(st.integers(0, n - 1)) == n // 2


# --- writing documents: JSON, YAML (flow, block, PyYAML), damaged text ----------------------


def _number(value: int | float, syntax: str) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN" if syntax == "json" else ".nan"
    if math.isinf(value):
        if syntax == "json":
            return "Infinity" if value > 0 else "-Infinity"
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def _json_string(text: str, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)


def _items(value: dict[str, Any] | Pairs) -> list[tuple[Any, Any]]:
    return list(value) if isinstance(value, Pairs) else list(value.items())


def to_json(value: Any, *, indent: int | None, ascii_only: bool, level: int = 0) -> str:
    if isinstance(value, dict | Pairs):
        parts = [
            f"{_json_string(str(k), ascii_only)}: "
            f"{to_json(v, indent=indent, ascii_only=ascii_only, level=level + 1)}"
            for k, v in _items(value)
        ]
        return _join("{", "}", parts, indent, level)
    if isinstance(value, list):
        parts = [to_json(v, indent=indent, ascii_only=ascii_only, level=level + 1) for v in value]
        return _join("[", "]", parts, indent, level)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value, "json")
    return _json_string(str(value), ascii_only)


def _join(open_: str, close: str, parts: list[str], indent: int | None, level: int) -> str:
    if not parts:
        return open_ + close
    if indent is None or level > 2:
        return open_ + ", ".join(parts) + close
    pad = " " * (indent * (level + 1))
    return open_ + "\n" + ",\n".join(pad + p for p in parts) + "\n" + " " * indent * level + close


_PLAIN_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")


def _yaml_string(text: str, plain: bool, ascii_only: bool) -> str:
    """A plain scalar where `plain` asks for one and it is safe-ish, else double quotes."""
    if plain and text and set(text) <= _PLAIN_OK:
        return text  # may still read as null/bool/number: that is part of the test
    return json.dumps(text, ensure_ascii=ascii_only)


def to_yaml_flow(value: Any, *, plain: bool, ascii_only: bool) -> str:
    if isinstance(value, dict | Pairs):
        inner = ", ".join(
            f"{_yaml_string(str(k), plain, ascii_only)}: "
            f"{to_yaml_flow(v, plain=plain, ascii_only=ascii_only)}"
            for k, v in _items(value)
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return (
            "["
            + ", ".join(to_yaml_flow(v, plain=plain, ascii_only=ascii_only) for v in value)
            + "]"
        )
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value, "yaml")
    return _yaml_string(str(value), plain, ascii_only)


def to_yaml_block(value: Any, *, plain: bool, ascii_only: bool, indent: int = 0) -> str:
    """Block style for the top two levels (as specs are written), flow below."""
    pad = " " * indent
    if isinstance(value, dict | Pairs) and value and indent <= 2:
        lines = []
        for k, v in _items(value):
            key = _yaml_string(str(k), plain, ascii_only)
            if isinstance(v, dict | Pairs | list) and v and indent == 0:
                lines.append(
                    f"{pad}{key}:\n"
                    + to_yaml_block(v, plain=plain, ascii_only=ascii_only, indent=indent + 2)
                )
            else:
                lines.append(f"{pad}{key}: {to_yaml_flow(v, plain=plain, ascii_only=ascii_only)}\n")
        return "".join(lines)
    if isinstance(value, list) and value and indent <= 2:
        return "".join(
            f"{pad}- {to_yaml_flow(v, plain=plain, ascii_only=ascii_only)}\n" for v in value
        )
    return pad + to_yaml_flow(value, plain=plain, ascii_only=ascii_only) + "\n"


def _has_pairs(value: Any) -> bool:
    if isinstance(value, Pairs):
        return True
    if isinstance(value, dict):
        return any(_has_pairs(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_pairs(v) for v in value)
    return False


SYNTAXES = ["json", "json-indented", "yaml-flow", "yaml-block", "yaml-pyyaml", "json-in-yaml"]


@st.composite
def written(draw: st.DrawFn, value: Any) -> tuple[bytes, str]:
    """`value` as a file: (bytes, suffix)."""
    syntax = draw(st.sampled_from(SYNTAXES))
    ascii_only = draw(st.booleans())
    plain = draw(st.booleans())
    if syntax == "yaml-pyyaml" and _has_pairs(value):
        syntax = "yaml-block"
    if syntax in ("json", "json-indented", "json-in-yaml"):
        indent = draw(st.sampled_from([2, 4])) if syntax == "json-indented" else None
        text = to_json(value, indent=indent, ascii_only=ascii_only)
        suffix = ".json" if syntax != "json-in-yaml" else ".yaml"
    elif syntax == "yaml-flow":
        text, suffix = to_yaml_flow(value, plain=plain, ascii_only=ascii_only) + "\n", ".yaml"
    elif syntax == "yaml-block":
        text, suffix = to_yaml_block(value, plain=plain, ascii_only=ascii_only), ".yml"
    else:
        try:
            text = yaml.safe_dump(
                value,
                default_flow_style=draw(st.sampled_from([None, True, False])),
                allow_unicode=not ascii_only,
                sort_keys=draw(st.booleans()),
                width=draw(st.sampled_from([80, 10**6])),
            )
        except (yaml.YAMLError, ValueError):
            text = to_yaml_block(value, plain=plain, ascii_only=ascii_only)
        suffix = ".yaml"
    encoded = text.encode("utf-8", errors="surrogatepass")
    if chance(draw, 10):
        encoded = draw(damaged(encoded))
    if chance(draw, 20):  # the other syntax's suffix
        suffix = ".yaml" if suffix == ".json" else ".json"
    return encoded, suffix


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """Text-level damage: a byte inserted, a slice cut or doubled, a line repeated, a
    truncation, CRLF line ends, tabs for indentation, a byte-order mark."""
    kind = draw(st.integers(0, 7))
    at = draw(st.integers(0, len(data)))
    if kind == 0:
        return data[:at] + draw(st.sampled_from(SOUP_BYTES)) + data[at:]
    if kind == 1:
        end = draw(st.integers(at, min(len(data), at + 40)))
        return data[:at] + data[end:]
    if kind == 2:
        end = draw(st.integers(at, min(len(data), at + 40)))
        return data[:end] + data[at:end] + data[end:]
    if kind == 3:
        return data[:at]
    if kind == 4:
        return data.replace(b"\n", b"\r\n")
    if kind == 5:
        return data.replace(b"  ", b"\t")
    if kind == 6:
        lines = data.split(b"\n")
        index = draw(st.integers(0, len(lines) - 1))
        return b"\n".join([*lines[: index + 1], lines[index], *lines[index + 1 :]])
    return draw(st.sampled_from(BOMS)) + data


# --- source 1: mutations of the valid specs -------------------------------------------------


def _seed_specs() -> dict[str, Any]:
    seeds = {}
    for folder in SEED_FOLDERS:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in SUFFIXES:
                document, problem = load_document(path)
                assert document is not None, (path, problem)
                seeds[str(path.relative_to(ROOT))] = document.data
    assert seeds
    return seeds


SEEDS = _seed_specs()
SEED_BYTES = {name: (ROOT / name).read_bytes() for name in SEEDS}
LAYER_TYPE_NAMES = sorted(LAYER_TYPES)


def _schema_keys() -> list[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    keys.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json_schema())
    return sorted(keys | {"allow", "blocks", "params", "with", "repeat", "block", "outputs"})


SCHEMA_KEYS = _schema_keys()


def _enums() -> dict[str, list[str]]:
    """Each word the schema allows in some field -> the other words of that field."""
    found: dict[str, list[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            words = [w for w in node.get("enum", []) if isinstance(w, str)]
            for word in words:
                found[word] = sorted({*found.get(word, []), *words})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json_schema())
    return found


ENUM_OF = _enums()

Path_ = tuple[Any, ...]


def _walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list) and not isinstance(value, Pairs):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _names(doc: Any) -> list[str]:
    """Every string in the document that could be a layer, instance or block name."""
    found = {"input"}
    for path, value in _walk(doc):
        if path and path[-1] in ("name", "block") and isinstance(value, str):
            found.add(value)
            found.add(value.replace("{i}", "1"))
        if len(path) == 2 and path[0] == "blocks":
            found.add(str(path[1]))
    return sorted(found)


def _layer_lists(doc: Any) -> list[Path_]:
    return [
        path
        for path, value in _walk(doc)
        if path and path[-1] == "layers" and isinstance(value, list) and value
    ]


def _layers(doc: Any) -> list[Path_]:
    return [
        (*lists, i)
        for lists in _layer_lists(doc)
        for i, item in enumerate(_get(doc, lists))
        if isinstance(item, dict)
    ]


def _reference(draw: st.DrawFn, doc: Any) -> Any:
    names = st.sampled_from(_names(doc))
    return draw(
        st.one_of(
            names,
            st.lists(names, min_size=0, max_size=6),
            st.lists(names, min_size=40, max_size=120),
            json_values(),
        )
    )


def mutate(draw: st.DrawFn, doc: Any) -> Any:
    """One random change; returns the new document (the root may be replaced)."""
    paths = [p for p, _ in _walk(doc) if p]
    kind = draw(
        st.sampled_from(
            [
                "delete",
                "replace",
                "replace",
                "number",
                "string",
                "add_key",
                "duplicate_key",
                "swap_layers",
                "copy_layer",
                "retype",
                "inputs",
                "outputs",
                "param",
                "root",
                "small_int",
                "small_int",
                "enum",
                "enum",
                "rename",
                "rename",
            ]
        )
    )
    if kind == "small_int":  # gentle: the document often stays valid
        ints = [p for p, v in _walk(doc) if p and type(v) is int]
        if ints:
            path = draw(st.sampled_from(ints))
            _get(doc, path[:-1])[path[-1]] = draw(st.integers(1, 6))
        return doc
    if kind == "enum":  # gentle: another allowed word (padding, activation, ...)
        words = [p for p, v in _walk(doc) if p and isinstance(v, str) and v in ENUM_OF]
        if words:
            path = draw(st.sampled_from(words))
            _get(doc, path[:-1])[path[-1]] = draw(st.sampled_from(ENUM_OF[_get(doc, path)]))
        return doc
    if kind == "root":
        return draw(st.one_of(json_values(), st.just([doc]), st.just({"spec": doc})))
    if not paths:
        return doc
    if kind in ("delete", "replace", "number", "string"):
        path = draw(st.sampled_from(paths))
        parent, last = _get(doc, path[:-1]), path[-1]
        if kind == "delete":
            del parent[last]
        elif kind == "number":
            parent[last] = draw(
                st.one_of(st.sampled_from(INTERESTING_INTS), st.sampled_from(INTERESTING_FLOATS))
            )
        elif kind == "string":
            parent[last] = draw(_text())
        else:
            parent[last] = draw(json_values())
        return doc
    mappings = [p for p, v in _walk(doc) if isinstance(v, dict)]
    if kind in ("add_key", "duplicate_key") and mappings:
        path = draw(st.sampled_from(mappings))
        mapping = _get(doc, path)
        if kind == "add_key":
            key = draw(st.one_of(st.sampled_from(SCHEMA_KEYS), _text()))
            mapping[key] = draw(st.one_of(json_values(), st.sampled_from(_names(doc))))
            return doc
        if not mapping:
            return doc
        pairs = Pairs(mapping.items())
        key = draw(st.sampled_from(list(mapping)))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(json_values())))
        return _replace(doc, path, pairs)
    layers = _layers(doc)
    if kind in ("swap_layers", "copy_layer"):
        lists = _layer_lists(doc)
        if not lists:
            return doc
        items = _get(doc, draw(st.sampled_from(lists)))
        i = draw(st.integers(0, len(items) - 1))
        j = draw(st.integers(0, len(items) - 1))
        if kind == "swap_layers":
            items[i], items[j] = items[j], items[i]
        else:
            items.insert(j, copy.deepcopy(items[i]))
        return doc
    if not layers:
        return doc
    layer = _get(doc, draw(st.sampled_from(layers)))
    if kind == "retype":
        layer["type"] = draw(st.sampled_from(LAYER_TYPE_NAMES))
    elif kind == "rename":
        layer["name"] = draw(st.sampled_from(HAZARD_NAMES))
    elif kind == "inputs":
        layer["inputs"] = _reference(draw, doc)
    elif kind == "outputs" and isinstance(doc, dict):
        doc["outputs"] = _reference(draw, doc)
    else:  # a $param in a random field of a layer
        key = draw(
            st.one_of(st.sampled_from(sorted(layer) or ["type"]), st.sampled_from(SCHEMA_KEYS))
        )
        layer[key] = draw(st.sampled_from(["$filters", "$stride", "$p", "$", "$type", "$name"]))
    return doc


def _replace(doc: Any, path: Path_, new: Any) -> Any:
    if not path:
        return new
    _get(doc, path[:-1])[path[-1]] = new
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[bytes, str]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    doc = copy.deepcopy(SEEDS[name])
    for _ in range(draw(st.integers(0, 4))):
        if not isinstance(doc, dict | list):
            break
        doc = mutate(draw, doc)
    _note(f"seed: {name}")
    return draw(written(doc))


# --- source 2: documents from the JSON Schema -----------------------------------------------


SCHEMA = json_schema()
DEFS = SCHEMA["$defs"]
LAYER_DEFS = sorted(
    name
    for name, d in DEFS.items()
    if "type" in d.get("properties", {}) and "const" in d["properties"]["type"]
)
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
OFF_SCHEMA = 150  # one value in this many is any value at all: nearly valid documents


@dataclass
class _Context:
    names: list[str]  # what `inputs` and `outputs` may name: 'input' and layers so far
    blocks: list[str]  # the blocks a use may name here (later ones only: no cycles)
    params: list[str]  # the parameters a '$name' may name here
    count: int = 0  # layers made so far, for unique names


def _small_int(draw: st.DrawFn, low: int, high: int) -> int:
    """Mostly small values inside [low, high]; now and then a bound."""
    if chance(draw, 20):
        return draw(st.sampled_from([low, high]))
    return draw(st.integers(low, max(low, min(high, max(low, 0) + 6))))


def from_schema(
    draw: st.DrawFn, node: dict[str, Any], ctx: _Context, key: str = "", depth: int = 0
) -> Any:
    """A value that follows the schema `node` (types, enums, bounds, required keys)."""
    if depth > 12 or chance(draw, OFF_SCHEMA):
        return draw(scalars())
    if "$ref" in node:
        return from_schema(draw, DEFS[node["$ref"].split("/")[-1]], ctx, key, depth + 1)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return draw(st.sampled_from(node["enum"]))
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        if node.get("discriminator") or branches[0] == {"$ref": "#/$defs/BlockUse"}:
            return _layer_item(draw, branches, ctx, depth)
        typed = [b for b in branches if b.get("type") != "null"] or branches
        return from_schema(draw, draw(st.sampled_from(typed)), ctx, key, depth + 1)
    kind = node.get("type")
    if kind == "object":
        return _object(draw, node, ctx, depth)
    if kind == "array":
        low = node.get("minItems", 0)
        high = min(node.get("maxItems", low + 2), low + 3)
        count = draw(st.integers(low, max(low, high)))
        if key in ("inputs", "outputs"):
            return [draw(st.sampled_from(ctx.names)) for _ in range(max(count, 1))]
        return [from_schema(draw, node.get("items", {}), ctx, "", depth + 1) for _ in range(count)]
    if kind == "integer":
        return _small_int(
            draw, node.get("minimum", -3), 3 if key == "repeat" else node.get("maximum", 64)
        )
    if kind == "number":
        low = node.get("minimum", node.get("exclusiveMinimum", -2.0))
        high = node.get("maximum", node.get("exclusiveMaximum", 2.0))
        return draw(
            st.floats(
                low,
                high,
                exclude_min="exclusiveMinimum" in node,
                exclude_max="exclusiveMaximum" in node,
            )
        )
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "null":
        return None
    if kind == "string":
        return _string(draw, node, ctx, key)
    return draw(scalars())


def _string(draw: st.DrawFn, node: dict[str, Any], ctx: _Context, key: str) -> str:
    if key in ("inputs", "outputs"):
        return draw(st.sampled_from(ctx.names))
    if key == "block":
        return draw(st.sampled_from(ctx.blocks))
    if key == "repeat":
        return "$" + draw(st.sampled_from(ctx.params or ["n"]))
    if key == "name" and "{}" in node.get("pattern", ""):  # a block use's instance name
        return draw(st.sampled_from(["stage{i}", f"u{ctx.count}", f"s{ctx.count}_{{i}}"]))
    if key == "name":
        return f"n{ctx.count}" if not chance(draw, 4) else draw(st.sampled_from(HAZARD_NAMES))
    return draw(st.sampled_from(["x", "same", "valid", "relu"]))


OPTIONAL = {"expect": 10, "inputs": 4, "name": 2, "outputs": 3}  # one in N; others one in 3


def _object(draw: st.DrawFn, node: dict[str, Any], ctx: _Context, depth: int) -> Any:
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    if set(props) == {"type"}:  # a layer inside a block: any layer, '$param' values
        return _block_layer(draw, ctx, depth)
    out: dict[str, Any] = {}
    for key, sub in props.items():
        if key not in required and not chance(draw, OPTIONAL.get(key, 3)):
            continue
        if key == "with":
            out[key] = {p: _small_int(draw, 1, 8) for p in ctx.params if draw(st.booleans())}
        elif key == "params":
            out[key] = {p: draw(st.sampled_from([None, 1, 2, 4])) for p in ctx.params}
        else:
            out[key] = from_schema(draw, sub, ctx, key, depth + 1)
    return out


def _layer_item(draw: st.DrawFn, branches: list[Any], ctx: _Context, depth: int) -> Any:
    """One entry of a `layers` list: a block use (if a block may be named here) or a layer
    of any type; named layers become names that later `inputs` may use."""
    ctx.count += 1
    if ctx.blocks and chance(draw, 4):
        item = from_schema(draw, DEFS["BlockUse"], ctx, "", depth + 1)
    else:
        kind = draw(st.sampled_from(LAYER_DEFS))
        item = from_schema(draw, DEFS[kind], ctx, "", depth + 1)
        if kind in MERGES and isinstance(item, dict) and not chance(draw, 10):
            count = 2 if kind == "Subtract" else draw(st.integers(2, 3))
            item["inputs"] = [draw(st.sampled_from(ctx.names)) for _ in range(count)]
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        ctx.names.append(item["name"].replace("{i}", "1"))
    return item


def _block_layer(draw: st.DrawFn, ctx: _Context, depth: int) -> Any:
    layer = _layer_item(draw, [], ctx, depth)
    if isinstance(layer, dict) and ctx.params and "block" not in layer:
        for key in list(layer):
            if key not in ("type", "name") and chance(draw, 4):
                layer[key] = "$" + draw(st.sampled_from(ctx.params))
    return layer


@st.composite
def schema_documents(draw: st.DrawFn) -> tuple[bytes, str]:
    blocks = draw(st.lists(st.sampled_from(["basic", "unit", "head"]), max_size=3, unique=True))
    params = draw(st.lists(st.sampled_from(["filters", "stride", "n"]), max_size=2, unique=True))
    doc: dict[str, Any] = {"specgen": 1, "name": "net"}
    doc["input"] = {
        "shape": draw(st.sampled_from([[8, 8, 3], [16, 16, 1], [5, 7, 2], [32, 32, 3], [10]]))
    }
    if blocks:
        doc["blocks"] = {}
        for index, block in enumerate(blocks):
            inner = _Context(["input"], blocks[index + 1 :], params)
            doc["blocks"][block] = from_schema(draw, DEFS["Block"], inner, "", 1)
    ctx = _Context(["input"], blocks, params)
    item = SCHEMA["properties"]["layers"]["items"]
    doc["layers"] = [from_schema(draw, item, ctx, "", 1) for _ in range(draw(st.integers(1, 6)))]
    used = {str(u.get("block")) for u in doc["layers"] if isinstance(u, dict)}
    for block in blocks:  # mostly, every block is used (an unused one is a warning)
        if block not in used and not chance(draw, 5):
            doc["layers"].append({"block": block})
    if len(ctx.names) > 1 and chance(draw, 4):
        doc["outputs"] = draw(st.lists(st.sampled_from(ctx.names[1:]), min_size=1, max_size=3))
    return draw(written(doc))


# --- source 3: raw bytes ----------------------------------------------------------------------

BOMS = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf"]
# fmt: off
SOUP = [
    "{", "}", "[", "]", ":", ": ", ",", "- ", "-", "? ", "\n", "\n  ", "  ", "\t", '"',
    "'", "\\", "#", "&a ", "*a", "!!int ", "!", "%YAML 1.2\n", "---\n", "...\n", "|\n",
    ">-\n", "<<: ", "1e999", "-1e999", "NaN", "Infinity", ".inf", "0x", "1" * 120, "null",
    "true", "specgen", "specgen: 1\n", "name", "layers", "input", "type", "conv2d",
    "shape", "blocks", "block", "$x", "{i}", "\x00", "\u2028", "\ufeff", "é", "\r",
]
# fmt: on
SOUP_BYTES = [s.encode() for s in SOUP] + [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]
HEADER = "specgen: 1\nname: raw\ninput: {shape: [8, 8, 3]}\nlayers:\n"


def _deep() -> st.SearchStrategy[str]:
    depth = st.sampled_from([1, 10, 63, 64, 65, 66, 100, 1000, 10_000, 100_000])
    return st.one_of(
        depth.map(lambda n: "[" * n),
        depth.map(lambda n: "[" * n + "]" * n),
        depth.map(lambda n: '{"a": ' * n + "1" + "}" * n),
        depth.map(lambda n: "{a: " * n + "1" + "}" * n),
        depth.map(lambda n: "".join(" " * i + "-\n" for i in range(min(n, 3000)))),
        depth.map(lambda n: "".join(" " * i + "a:\n" for i in range(min(n, 3000)))),
        depth.map(lambda n: HEADER + "  - {type: flatten, expect: " + "[" * n + "]" * n + "}\n"),
    )


def _numbers() -> st.SearchStrategy[str]:
    literal = st.sampled_from(
        [
            "1e999",
            "-1e999",
            "1e-999",
            "1" + "0" * 400,
            "9" * 100,
            "9" * 101,
            "-" + "9" * 5000,
            "0x" + "f" * 200,
            "0o" + "7" * 99,
            ".5e-99999",
            "1_000",
            "1.",
            ".1",
            "+1",
            "-0",
            "01",
            "1e+308",
            "2e308",
            "4.9e-324",
            "1E400",
        ]
    )
    where = st.sampled_from(
        [
            HEADER + "  - {type: dense, units: %s}\n",
            HEADER + "  - {type: dropout, rate: %s}\n",
            "specgen: %s\nname: raw\ninput: {shape: [8, 8, 3]}\nlayers:\n  - {type: flatten}\n",
            "specgen: 1\nname: raw\ninput: {shape: [%s, 8, 3]}\nlayers:\n  - {type: flatten}\n",
            '{"specgen": 1, "name": "raw", "input": {"shape": [8, 8, %s]}, '
            '"layers": [{"type": "flatten"}]}',
        ]
    )
    return st.tuples(where, literal).map(lambda t: t[0] % t[1])


@st.composite
def raw_documents(draw: st.DrawFn) -> tuple[bytes, str]:
    suffix = draw(st.sampled_from([".json", ".yaml", ".yml"]))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        data = draw(st.binary(max_size=600))
    elif kind == 1:  # a valid file cut short
        seed = SEED_BYTES[draw(st.sampled_from(sorted(SEED_BYTES)))]
        data = seed[: draw(st.integers(0, len(seed)))]
        suffix = (
            Path(draw(st.sampled_from(sorted(SEED_BYTES)))).suffix
            if draw(st.booleans())
            else suffix
        )
    elif kind == 2:  # a valid file, damaged
        name = draw(st.sampled_from(sorted(SEED_BYTES)))
        data, suffix = SEED_BYTES[name], Path(name).suffix
        for _ in range(draw(st.integers(1, 3))):
            data = draw(damaged(data))
    elif kind == 3:  # syntax soup, after a spec's first lines or not
        soup = "".join(draw(st.lists(st.sampled_from(SOUP), max_size=80)))
        data = ((HEADER if draw(st.booleans()) else "") + soup).encode("utf-8", "surrogatepass")
    elif kind == 4:
        data = draw(_deep()).encode()
    elif kind == 5:
        data = draw(_numbers()).encode()
    else:  # byte-order marks and NULs around a valid file
        name = draw(st.sampled_from(sorted(SEED_BYTES)))
        data, suffix = SEED_BYTES[name], Path(name).suffix
        data = draw(st.sampled_from([*BOMS, b"", b"\x00"])) + data
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"", b"\x00", b"\x00" * 3])) + data[at:]
    return data, suffix


# --- source 4: blocks and graphs ----------------------------------------------------------------

# fmt: off
REPEATS = [
    1, 2, 3, 10, 1000, 99_999, 100_000, 100_001, 10**6, 0, -1, 2**63, 1.0, True, "3", "$n",
    "$p", None,
]
# fmt: on
# fmt: off
INSTANCE_NAMES = [
    None, "s", "s{i}", "{i}", "s{i}{i}", "{i}_x", "x{i}y{i}", "{", "}", "{i", "{ i }",
    "input", "s-1", "1s", "a" * 45, "$name", "conv", "stem",
]
# fmt: on


@st.composite
def _plain_layer(
    draw: st.DrawFn, names: list[str], params: list[str], index: int
) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "conv2d",
                "activation",
                "add",
                "concatenate",
                "dense",
                "flatten",
                "max_pool2d",
                "batch_norm",
                "$type",
            ]
        )
    )
    layer: dict[str, Any] = {"type": kind}
    dollar = st.sampled_from([f"${p}" for p in params] + ["$missing", "$"])
    if kind == "conv2d":
        layer.update(
            filters=draw(st.one_of(st.integers(1, 8), dollar)),
            kernel_size=draw(st.one_of(st.integers(1, 3), dollar)),
            padding="same",
        )
    elif kind == "activation":
        layer["activation"] = draw(st.one_of(st.just("relu"), dollar))
    elif kind in ("add", "concatenate"):
        count = draw(st.sampled_from([0, 1, 2, 3, 50, 300]))
        layer["inputs"] = [draw(st.sampled_from(names)) for _ in range(count)]
    elif kind == "dense":
        layer["units"] = draw(st.one_of(st.integers(1, 8), dollar))
    elif kind == "max_pool2d":
        layer["pool_size"] = draw(st.one_of(st.integers(1, 3), dollar))
    if draw(st.booleans()):
        own = [f"l{index}", f"l{index}", "conv", "input", f"{index}x", "$name", "l{i}", "l0"]
        layer["name"] = draw(st.sampled_from([*own, *HAZARD_NAMES]))
    if chance(draw, 4):
        layer["inputs"] = draw(
            st.one_of(
                st.sampled_from(names),
                st.lists(st.sampled_from(names), max_size=3),
                st.just(layer.get("name", "self")),  # itself
                dollar,
            )
        )
    return layer


@st.composite
def _use(draw: st.DrawFn, blocks: list[str], names: list[str], params: list[str]) -> dict[str, Any]:
    use: dict[str, Any] = {"block": draw(st.sampled_from([*blocks, "nope", "$b"]))}
    if draw(st.booleans()):
        use["repeat"] = draw(st.sampled_from(REPEATS))
    name = draw(st.sampled_from(INSTANCE_NAMES))
    if name is not None:
        use["name"] = name
    if draw(st.booleans()):
        use["with"] = {
            p: draw(
                st.one_of(
                    st.integers(1, 4),
                    st.sampled_from([f"${q}" for q in params] or ["$x"]),
                    json_values(),
                )
            )
            for p in draw(
                st.lists(st.sampled_from([*params, "filtres", "n"]), max_size=3, unique=True)
            )
        }
    if chance(draw, 4):
        use["inputs"] = draw(
            st.one_of(st.sampled_from(names), st.lists(st.sampled_from(names), max_size=3))
        )
    return use


@st.composite
def block_documents(draw: st.DrawFn) -> tuple[bytes, str]:
    blocks = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True)
    )
    params = draw(
        st.lists(st.sampled_from(["filters", "n", "p", "type", "name"]), max_size=3, unique=True)
    )
    defs: dict[str, Any] = {}
    for block in blocks:
        names = ["input"]
        layers = []
        for index in range(draw(st.integers(1, 4))):
            if chance(draw, 3):  # blocks using blocks, cycles included
                item = draw(_use(blocks, names, params))
            else:
                item = draw(_plain_layer(names, params, index))
            names.append(str(item.get("name", f"l{index}")))
            layers.append(item)
        definition: dict[str, Any] = {"layers": layers}
        if params or draw(st.booleans()):
            definition["params"] = {
                p: draw(st.sampled_from([None, 1, 2, 4, "relu", [3, 3]])) for p in params
            }
        defs[block] = definition
    names = ["input", "stem"]
    layers = [{"name": "stem", "type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"}]
    for index in range(draw(st.integers(1, 5))):
        if draw(st.integers(0, 2)) < 2:
            item = draw(_use(blocks, names, params))
            base = item.get("name") if isinstance(item.get("name"), str) else str(item["block"])
            names += [base, base.replace("{i}", "1"), f"{base}_1", f"{base}_2"]
        else:
            item = draw(_plain_layer(names, params, index))
            names.append(str(item.get("name", "x")))
        layers.append(item)
    doc: dict[str, Any] = {
        "specgen": 1,
        "name": "blocks",
        "input": {"shape": [8, 8, 3]},
        "blocks": defs,
        "layers": layers,
    }
    if chance(draw, 3):
        doc["outputs"] = draw(
            st.one_of(st.sampled_from(names), st.lists(st.sampled_from(names), max_size=4))
        )
    if chance(draw, 4):
        doc = mutate(draw, doc)
    return draw(written(doc))


# --- source 5: valid layers with extreme numbers --------------------------------------------

EXTREME = [1, 2, 3, 7, 1 << 10, (1 << 20) - 1, 1 << 20, 1 << 30, 2**31 - 1]
EXTREME_FLOATS = [5e-324, 1e-300, 1e-7, 0.5, 0.999999, 1.0, 1e300, 1.7976931348623157e308]


@st.composite
def extreme_documents(draw: st.DrawFn) -> tuple[bytes, str]:
    """Chains of layers whose numbers sit at the edges of what the schema allows, so that
    shapes, padding, receptive fields, counts and emitted literals meet huge values."""
    big = st.sampled_from(EXTREME)
    small = st.sampled_from(EXTREME[:4])
    pair = st.one_of(big, st.lists(big, min_size=2, max_size=2))
    floats = st.sampled_from(EXTREME_FLOATS)
    unit = st.sampled_from([0.0, 5e-324, 1e-300, 0.5, 0.999999])  # [0, 1)
    padding = st.sampled_from(["same", "valid"])
    spatial = [
        lambda: {"type": "max_pool2d", "pool_size": draw(small), "stride": draw(pair),
                 "padding": draw(padding)},
        lambda: {"type": "avg_pool2d", "pool_size": 1, "stride": draw(pair), "padding": "same"},
        lambda: {"type": "conv2d", "filters": draw(small), "kernel_size": 1, "stride": draw(pair),
                 "dilation": draw(pair), "padding": draw(padding)},
        lambda: {"type": "conv2d", "filters": 2, "kernel_size": draw(pair), "padding": "same"},
        lambda: {"type": "depthwise_conv2d", "kernel_size": 1, "stride": draw(pair),
                 "padding": "same"},
        lambda: {"type": "zero_padding2d", "padding": draw(st.sampled_from([0, 1, 1 << 10]))},
        lambda: {"type": "upsample2d", "size": draw(st.sampled_from([1, 2, 1 << 10]))},
        lambda: {"type": "cropping2d", "cropping": draw(st.sampled_from([0, 1]))},
        lambda: {"type": "conv2d_transpose", "filters": 1, "kernel_size": draw(small),
                 "stride": draw(small), "padding": draw(padding)},
    ]  # fmt: skip
    anywhere = [
        lambda: {"type": "batch_norm", "epsilon": draw(floats), "momentum": draw(unit)},
        lambda: {"type": "dropout", "rate": draw(unit)},
        lambda: {"type": "rescaling", "scale": draw(floats), "offset": -draw(floats)},
        lambda: {"type": "normalization", "mean": draw(floats), "variance": draw(floats)},
        lambda: {"type": "activation", "activation": draw(st.sampled_from(["relu", "gelu"]))},
    ]  # fmt: skip
    flatten = [
        lambda: {"type": "flatten"},
        lambda: {"type": "global_max_pool2d"},
        lambda: {"type": "global_avg_pool2d"},
    ]
    flat = [
        lambda: {"type": "dense", "units": draw(small), "activation": "softmax"},
        lambda: {"type": "dense", "units": draw(st.sampled_from([1, 1 << 10]))},
    ]
    shape = draw(
        st.sampled_from(
            [[1, 1, 1], [1 << 20, 1, 1], [1, 1 << 20, 1], [1, 1, 2048], [64, 64, 3], [1 << 10]]
        )
    )
    rank3 = len(shape) == 3
    layers = []
    for _ in range(draw(st.integers(1, 40))):
        if rank3 and chance(draw, 12):
            choices, rank3 = flatten, False
        else:
            choices = (spatial if rank3 else flat) + anywhere
        layers.append(choices[draw(st.integers(0, len(choices) - 1))]())
    doc = {"specgen": 1, "name": "extreme", "input": {"shape": shape}, "layers": layers}
    return draw(written(doc))


# --- the tests ----------------------------------------------------------------------------------


def _note(text: str) -> None:
    """`hypothesis.note`, also when a document is checked outside a test (reproducing)."""
    with contextlib.suppress(InvalidArgument):
        note(text)


def _show_document(data: bytes, suffix: str) -> None:
    text = data.decode("utf-8", errors="backslashreplace")
    shown = (
        text
        if len(text) <= 4000
        else text[:3000] + f"\n... ({len(text):,} characters) ...\n" + text[-500:]
    )
    _note(f"document ({suffix}, {len(data):,} bytes):\n{shown}")


def _check(document: tuple[bytes, str]) -> None:
    data, suffix = document
    _show_document(data, suffix)
    check_document(data, suffix)


@ROBUST
@given(mutated_documents())
def test_mutated_specs(document: tuple[bytes, str]) -> None:
    _check(document)


@ROBUST
@given(schema_documents())
def test_documents_from_the_schema(document: tuple[bytes, str]) -> None:
    _check(document)


@ROBUST
@given(raw_documents())
def test_raw_bytes(document: tuple[bytes, str]) -> None:
    _check(document)


@ROBUST
@given(block_documents())
def test_blocks_and_graphs(document: tuple[bytes, str]) -> None:
    _check(document)


@ROBUST
@given(extreme_documents())
def test_extreme_numbers(document: tuple[bytes, str]) -> None:
    _check(document)


# Documents that once failed a property above, checked on every run. (Invalid specs go to
# tests/invalid with their expected findings, hostile files to tests/hostile.)
REGRESSIONS = {
    # A layer named 'x' whose value is used later: the Keras code held it in the variable
    # x, which the next layer's value overwrote, so 'sum' added c to itself.
    "layer_named_x.yaml": """\
specgen: 1
name: shadow_x
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, name: x, filters: 4, kernel_size: 3, padding: same}
  - {type: conv2d, name: c, filters: 4, kernel_size: 3, padding: same}
  - {type: add, name: sum, inputs: [x, c]}
""",
    # The same inside a block emitted as a function (Keras) and a class (PyTorch) whose
    # input is called 'inputs': both targets added c to itself.
    "block_layer_named_x.yaml": """\
specgen: 1
name: block_x
input: {shape: [8, 8, 3]}
blocks:
  unit:
    layers:
      - {name: x, type: conv2d, filters: 3, kernel_size: 3, padding: same}
      - {name: c, type: conv2d, filters: 3, kernel_size: 3, padding: same}
      - {name: sum, type: add, inputs: [x, c, input]}
layers:
  - {block: unit, name: u1}
  - {block: unit, name: u2}
""",
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(name: str) -> None:
    check_document(REGRESSIONS[name].encode(), Path(name).suffix)


def test_emit_writes_through_a_symlink_or_refuses(tmp_path: Path) -> None:
    """`-o LINK` must not turn a symlink into a regular file beside its target."""
    target = tmp_path / "real.py"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    emit = run_cli(
        ["emit", str(ROOT / "specs" / "lenet5.yaml"), "--target", "keras", "-o", str(link)]
    )
    assert link.is_symlink(), "the symlink was replaced by a regular file"
    if emit.code == 0:
        assert target.read_text(encoding="utf-8").startswith('"""Keras 3 model'), emit.show()
    else:
        assert emit.code == 2 and target.read_text(encoding="utf-8") == "old\n", emit.show()


def test_emit_never_replaces_a_special_file(tmp_path: Path) -> None:
    """`-o` on a FIFO (or a device such as /dev/null) writes to it or refuses; renaming a
    temporary file over it would replace the special file with a regular one."""
    fifo = tmp_path / "model.py"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a writer can open it, too
    try:
        emit = run_cli(
            ["emit", str(ROOT / "specs" / "lenet5.yaml"), "--target", "keras", "-o", str(fifo)]
        )
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced by a regular file"
    assert emit.code in (0, 2), emit.show()


# A few documents through the real program (console script, fresh interpreter): one
# process validates them all, two more emit.
REAL_PROCESS = {
    "binary.yaml": b"\x00\xff\xfe" * 50,
    "deep.json": b"[" * 100_000,
    "soup.yaml": "".join(SOUP).encode("utf-8", "surrogatepass"),
    "billion.yaml": b"a: &a [1, 2]\nb: [*a, *a]\n",
    "huge.json": b'{"specgen": 1, "name": "x", "input": {"shape": [1e999, 8, 3]}, "layers": []}',
    "cycle.yaml": (
        HEADER.replace("layers:\n", "")
        + "blocks:\n  a: {layers: [{block: b}]}\n  b: {layers: [{block: a}]}\n"
        + "layers:\n  - {block: a, repeat: 100000}\n"
    ).encode(),
}


def test_real_process(tmp_path: Path) -> None:
    script = shutil.which("specgen", path=str(Path(sys.executable).parent))
    assert script is not None, "the specgen console script is not installed next to python"
    paths = []
    for name, data in sorted(REAL_PROCESS.items()):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    runs = [
        ["validate", "--format", "json", *map(str, paths)],
        ["emit", str(tmp_path / "cycle.yaml"), "--target", "pytorch", "-o", str(tmp_path / "m.py")],
        ["summary", "--format", "json", str(tmp_path / "huge.json")],
    ]
    outputs = []
    for args in runs:
        proc = subprocess.run([script, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        assert "internal error" not in proc.stderr
        outputs.append(proc.stdout)
    payload = strict_json(outputs[0])
    assert [f["valid"] for f in payload["files"]] == [False] * len(paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REAL_PROCESS)  # no m.py
