"""Issue 8: no input makes any stage quadratic.

Each *family* below is a hostile (or merely big) spec parameterised by a size n: many
layers, many broken references, many unknown keys, many blocks, a very long list, ...
Every family runs through everything a user can ask for: ``validate`` (`check_file` and
the text and JSON reporters) and, where the spec is valid, ``summary`` (text and JSON),
``expand`` (YAML and JSON) and ``emit`` for both targets. Each family runs at n and 4n,
and what it costs must grow about 4-fold, not 16-fold:

- the function calls made (cProfile's counts: deterministic, so the bound is tight); a
  failure names the functions whose calls grew the most, which is where the quadratic
  loop is;
- among them, the candidates a did-you-mean compares (`SequenceMatcher.set_seq1` runs
  once per candidate), the usual way a check goes quadratic: a suggestion searched over
  all n names for each of n findings;
- the size of everything printed (a hint listing all n names in each of n findings);
- the time, with a generous bound on the ratio (never an absolute time): it sees what
  no call count does, a slice or a join over all n names inside a loop.

The sizes are small, so that the file runs in well under a minute.
``python tests/test_scaling.py --scale 8`` prints the audit table (times, ratios) at
sizes eight times these; ``--help`` lists the options.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from specgen import expand, suggest
from specgen.check import check_file
from specgen.expand import MAX_BLOCK_DEPTH, flat_json, flat_yaml
from specgen.report import diagnostic_json, format_diagnostic, summary_json, summary_text
from specgen.targets import emit_source

Data = dict[str, Any]

# Bounds on the 4n/n ratios: linear growth gives about 4, quadratic about 16.
COUNT_RATIO = 5.0  # deterministic counts: a little above 4 (constant parts, name lengths)
CALL_RATIO = 5.0  # function calls (cProfile): deterministic as well
TIME_RATIO = 10.0  # wall time on a shared machine: generous
REPEATS = 3  # the time is the minimum of up to this many runs of each size
# The tests run with a smaller did-you-mean budget than files get, so that the small
# sizes here are already past it, where the cost per finding is what it is for big files.
HINT_BUDGET = 500


# --- writing specs ---------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, str) and value.isidentifier() and value not in ("null", "true", "false"):
        return value
    return json.dumps(value)


def _flow(value: Any) -> str:
    """YAML flow style (JSON's strings and numbers are YAML 1.2 scalars)."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def to_yaml(data: Data) -> str:
    """One layer (and one block) a line, as specs are written."""
    lines = []
    for key, value in data.items():
        if key == "layers":
            lines.append("layers:")
            lines += [f"  - {_flow(layer)}" for layer in value]
        elif key == "blocks":
            lines.append("blocks:")
            for name, block in value.items():
                lines.append(f"  {_scalar(name)}:")
                lines.append(f"    params: {_flow(block.get('params', {}))}")
                lines.append("    layers:")
                lines += [f"      - {_flow(layer)}" for layer in block["layers"]]
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def to_json(data: Data) -> str:
    return json.dumps(data, indent=1) + "\n"


def spec(layers: list[Data], shape: tuple[int, ...] = (4, 4, 2), **extra: Any) -> Data:
    data: Data = {"specgen": 1, "name": "net", "input": {"shape": list(shape)}}
    if "blocks" in extra:
        data["blocks"] = extra.pop("blocks")
    data["layers"] = layers
    data.update(extra)
    return data


# --- the families ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[int], Data]
    n: int  # the smaller size; the other is 4n
    valid: bool | None = False  # True: summary, expand and emit run too; None: either
    syntax: str = "yaml"


FAMILIES: list[Family] = []


def family(
    name: str, n: int, *, valid: bool | None = False, json_too: bool = False, syntax: str = "yaml"
) -> Callable[[Callable[[int], Data]], Callable[[int], Data]]:
    def register(build: Callable[[int], Data]) -> Callable[[int], Data]:
        FAMILIES.append(Family(name, build, n, valid, syntax))
        if json_too:
            FAMILIES.append(Family(name + "[json]", build, n, valid, "json"))
        return build

    return register


# A chain of n layers of one type whose output shape equals its input shape.
CHAIN_LAYERS: dict[str, tuple[Data, tuple[int, ...]]] = {
    "conv2d": ({"filters": 2, "kernel_size": 1}, (4, 4, 2)),
    "max_pool2d": ({"pool_size": 1}, (4, 4, 2)),
    "avg_pool2d": ({"pool_size": 1}, (4, 4, 2)),
    "global_avg_pool2d": ({"keepdims": True}, (1, 1, 2)),
    "global_max_pool2d": ({"keepdims": True}, (1, 1, 2)),
    "dense": ({"units": 4}, (4,)),
    "dropout": ({"rate": 0.5}, (4, 4, 2)),
    "batch_norm": ({}, (4, 4, 2)),
    "activation": ({"activation": "relu"}, (4, 4, 2)),
    "zero_padding2d": ({"padding": 0}, (4, 4, 2)),
    "depthwise_conv2d": ({"kernel_size": 1}, (4, 4, 2)),
    "separable_conv2d": ({"filters": 2, "kernel_size": 1}, (4, 4, 2)),
    "rescaling": ({"scale": [0.5, 2.0]}, (4, 4, 2)),
    "normalization": ({"mean": 0.5, "variance": 2.0}, (4, 4, 2)),
    "upsample2d": ({"size": 1}, (4, 4, 2)),
    "reshape": ({"target_shape": [4, 4, 2]}, (4, 4, 2)),
    "cropping2d": ({"cropping": 0}, (4, 4, 2)),
    "conv2d_transpose": ({"filters": 2, "kernel_size": 1}, (4, 4, 2)),
}
MERGE_TYPES = ("add", "subtract", "multiply", "average", "maximum", "minimum")
CHAIN = 24  # layers in a chain (the costliest families: every layer is emitted twice)


def _chain(kind: str) -> Callable[[int], Data]:
    fields, shape = CHAIN_LAYERS[kind]
    return lambda n: spec([{"type": kind, **fields} for _ in range(n)], shape)


for _kind in CHAIN_LAYERS:
    family(f"chain {_kind}", CHAIN, valid=True, json_too=_kind == "conv2d")(_chain(_kind))


@family("chain of element-wise merges", CHAIN, valid=True)
def _merge_chain(n: int) -> Data:
    # Each merge reads the one before and the model input (a fan-out of n from the input).
    layers = [
        {"name": f"m{i}", "type": MERGE_TYPES[i % 6], "inputs": ["input", "input"]}
        for i in range(n)
    ]
    for i, layer in enumerate(layers[1:]):
        layer["inputs"] = [f"m{i}", "input"]
    return spec(layers)


@family("chain concatenate", CHAIN, valid=True)
def _concat_chain(n: int) -> Data:
    # DenseNet style: the channels grow by 2 with each layer.
    return spec(
        [
            {"type": "concatenate", "inputs": ["input" if i == 0 else f"concatenate_{i}", "input"]}
            for i in range(n)
        ]
    )


@family("chain flatten+dense", CHAIN, valid=True)
def _flatten_dense(n: int) -> Data:
    layers: list[Data] = []
    for _ in range(n // 3):
        layers += [{"type": "flatten"}, {"type": "dense", "units": 2}]
        layers.append({"type": "reshape", "target_shape": [1, 1, 2]})
    return spec(layers, (1, 1, 2))


@family("broken refs, one name", 64, json_too=True)
def _refs_same(n: int) -> Data:
    return spec([{"type": "dropout", "rate": 0.5, "inputs": ["nope"]} for _ in range(n)])


@family("broken refs, distinct names", 64)
def _refs_distinct(n: int) -> Data:
    return spec([{"type": "dropout", "rate": 0.5, "inputs": [f"nope{i}"]} for i in range(n)])


@family("broken refs close to real names", 24)
def _refs_close(n: int) -> Data:
    # Every search compares many similar names in full (difflib's slow path).
    layers = [{"name": f"layer{i}", **DROP, "inputs": "input"} for i in range(n)]
    return spec([*layers, *({**DROP, "inputs": f"layr{i}"} for i in range(n))])


@family("forward refs", 64)
def _refs_forward(n: int) -> Data:
    return spec(
        [
            {"name": f"d{i}", "type": "dropout", "rate": 0.5, "inputs": [f"d{i + 1}"]}
            for i in range(n)
        ]
    )


@family("duplicate names", 64)
def _duplicates(n: int) -> Data:
    return spec([{"name": "x", "type": "dropout", "rate": 0.5} for _ in range(n)])


@family("unknown keys, one layer", 128)
def _keys_one_layer(n: int) -> Data:
    return spec(
        [{"type": "conv2d", "filters": 2, "kernel_size": 1, **{f"k{i}": 1 for i in range(n)}}]
    )


@family("typo'd key in every layer", 50, json_too=True)
def _typo_keys(n: int) -> Data:
    return spec([{"type": "conv2d", "filters": 2, "kernal_size": 1} for _ in range(n)])


@family("distinct unknown keys across layers", 50)
def _keys_across(n: int) -> Data:
    return spec([{"type": "dropout", "rate": 0.5, f"rat{i}": 1} for i in range(n)])


@family("unknown layer type, one name", 64)
def _types_same(n: int) -> Data:
    return spec([{"type": "convv2d", "filters": 2} for _ in range(n)])


@family("unknown layer types, distinct", 64)
def _types_distinct(n: int) -> Data:
    return spec([{"type": f"conv{i}d"} for i in range(n)])


@family("unknown activations", 64)
def _activations(n: int) -> Data:
    return spec([{"type": "activation", "activation": f"rel{i}"} for i in range(n)])


def _parallel(n: int) -> list[Data]:
    return [{"name": f"d{i}", "type": "dropout", "rate": 0.5, "inputs": "input"} for i in range(n)]


@family("many outputs", 50, valid=True)
def _outputs(n: int) -> Data:
    return spec(_parallel(n), outputs=[f"d{i}" for i in range(n)])


@family("many unknown outputs", 64)
def _outputs_unknown(n: int) -> Data:
    return spec(_parallel(n), outputs=[f"e{i}" for i in range(n)])


@family("one output listed many times", 64)
def _outputs_twice(n: int) -> Data:
    return spec(_parallel(1), outputs=["d0"] * n)


@family("add of many inputs", 50, valid=True)
def _wide_add(n: int) -> Data:
    return spec([*_parallel(n), {"type": "add", "inputs": [f"d{i}" for i in range(n)]}])


@family("concatenate of many inputs", 50, valid=True)
def _wide_concat(n: int) -> Data:
    return spec([*_parallel(n), {"type": "concatenate", "inputs": [f"d{i}" for i in range(n)]}])


@family("add of the input many times", 128, valid=True)
def _add_input(n: int) -> Data:
    return spec([{"type": "add", "inputs": ["input"] * n}])


@family("fan-out: one layer read by many", 50, valid=True)
def _fan_out(n: int) -> Data:
    readers = [
        {"name": f"r{i}", "type": "dropout", "rate": 0.5, "inputs": "stem"} for i in range(n)
    ]
    stem = {"name": "stem", "type": "conv2d", "filters": 2, "kernel_size": 1}
    return spec([stem, *readers, {"type": "maximum", "inputs": [f"r{i}" for i in range(n)]}])


@family("mismatched merge of many inputs", 50)
def _bad_merge(n: int) -> Data:
    convs = [
        {"name": f"c{i}", "type": "conv2d", "filters": i + 1, "kernel_size": 1, "inputs": "input"}
        for i in range(n)
    ]
    return spec([*convs, {"type": "add", "inputs": [f"c{i}" for i in range(n)]}])


@family("unused layers", 64, valid=None)
def _unused(n: int) -> Data:
    return spec(_parallel(n))


@family("shape errors in every layer", 50)
def _shape_errors(n: int) -> Data:
    return spec(
        [{"type": "conv2d", "filters": 2, "kernel_size": 5, "inputs": "input"} for _ in range(n)],
        outputs=[f"conv2d_{i + 1}" for i in range(n)],
    )


@family("several schema errors in every layer", 40, json_too=True)
def _schema_errors(n: int) -> Data:
    bad = {"type": "conv2d", "filters": "2", "kernel_size": 0, "stride": True, "padding": "fill"}
    return spec([dict(bad) for _ in range(n)])


@family("expect mismatch in every layer", 50)
def _expects(n: int) -> Data:
    return spec([{"type": "dropout", "rate": 0.5, "expect": [1, 1, 1]} for _ in range(n)])


# --- blocks


def _block(layers: list[Data], params: Data | None = None) -> Data:
    return {"params": params or {}, "layers": layers}


DROP: Data = {"type": "dropout", "rate": 0.5}
CONV: Data = {"type": "conv2d", "filters": "$filters", "kernel_size": 1}


@family("block definitions, each used twice", 24, valid=True)
def _block_defs(n: int) -> Data:
    blocks = {f"b{i}": _block([DROP]) for i in range(n)}
    uses = [{"block": f"b{i}", "name": f"u{i}_{k}"} for i in range(n) for k in range(2)]
    return spec(uses, blocks=blocks)


@family("block definitions, each used once", 40, valid=True)
def _block_defs_once(n: int) -> Data:
    blocks = {f"b{i}": _block([DROP, {"type": "batch_norm"}]) for i in range(n)}
    return spec([{"block": f"b{i}"} for i in range(n)], blocks=blocks)


@family("block uses", 32, valid=True, json_too=True)
def _block_uses(n: int) -> Data:
    layers = [{"name": "conv", **CONV}, {"name": "bn", "type": "batch_norm"}]
    blocks = {"basic": _block(layers, {"filters": 2})}
    return spec([{"block": "basic", "name": f"u{i}"} for i in range(n)], blocks=blocks)


@family("block uses that differ in arguments", 32, valid=True)
def _block_args(n: int) -> Data:
    layers = [
        {"name": "conv", **CONV, "stride": "$stride", "padding": "same"},
        {"name": "drop", "type": "dropout", "rate": "$rate"},
    ]
    blocks = {"basic": _block(layers, {"filters": None, "stride": 1, "rate": 0.5})}
    uses = [
        {"block": "basic", "with": {"filters": 1 + i % 7, "rate": i / (4 * n), "stride": 1}}
        for i in range(n)
    ]
    return spec(uses, blocks=blocks)


@family("blocks with unlike structure", 32, valid=True)
def _block_variants(n: int) -> Data:
    # Padding symmetric in some instances and not in others: two variants of one block.
    layers = [{"name": "conv", **CONV, "kernel_size": "$k", "padding": "same"}]
    blocks = {"b": _block(layers, {"filters": 2, "k": 1})}
    return spec([{"block": "b", "with": {"k": 1 + i % 2}} for i in range(n)], blocks=blocks)


@family("block with many parameters, used many times", 32)
def _many_params_uses(n: int) -> Data:
    # Every use binds every parameter. (Checked only: the unknown output stops the emit,
    # whose cost per use would hide that of the bindings at this size.)
    params = {f"p{i}": 0.5 for i in range(n)}
    layers = [{"type": "dropout", "rate": "$p0"}]
    uses = [{"block": "b", "name": f"u{i}"} for i in range(n)]
    return spec(uses, blocks={"b": _block(layers, params)}, outputs=["nope"])


@family("block with many parameters, uses that differ", 32, valid=True)
def _many_params_differ(n: int) -> Data:
    # The emitter looks for the parameter behind each differing argument.
    params = {**{f"p{i}": 0.5 for i in range(n)}, "r": None}
    layers = [{"type": "dropout", "rate": "$r"}]
    uses = [{"block": "b", "with": {"r": (i + 1) / (8 * n)}} for i in range(n)]
    return spec(uses, blocks={"b": _block(layers, params)})


@family("repeat", 64, valid=True)
def _repeat(n: int) -> Data:
    blocks = {"b": _block([DROP])}
    return spec([{"block": "b", "name": "s", "repeat": n}], blocks=blocks)


@family("repeat of a nested block", 16, valid=True)
def _repeat_nested(n: int) -> Data:
    blocks = {"inner": _block([DROP, DROP]), "outer": _block([{"block": "inner", "repeat": 2}])}
    return spec([{"block": "outer", "name": "s", "repeat": n}], blocks=blocks)


@family("unused blocks", 64, valid=None)
def _unused_blocks(n: int) -> Data:
    blocks = {f"b{i}": _block([DROP]) for i in range(n)}
    return spec([DROP], blocks=blocks)


@family("$param references", 128, valid=True)
def _param_refs(n: int) -> Data:
    # One per-channel value per parameter: scale: [$p0, $p1, ...] over n channels.
    params = {f"p{i}": 1.0 + i for i in range(n)}
    layers = [{"type": "rescaling", "scale": [f"$p{i}" for i in range(n)]}]
    uses = [{"block": "b", "name": "u1"}, {"block": "b", "name": "u2"}]
    return spec(uses, (1, 1, n), blocks={"b": _block(layers, params)})


@family("misspelt block names", 64)
def _typo_blocks(n: int) -> Data:
    blocks = {f"block{i}": _block([DROP]) for i in range(n)}
    return spec([{"block": f"blokc{i}"} for i in range(n)], blocks=blocks)


@family("block names without a close match", 64)
def _unknown_blocks(n: int) -> Data:
    # No suggestion: the hint lists the blocks (each of n findings must not list all n).
    blocks = {f"block{i}": _block([DROP]) for i in range(n)}
    return spec([{"block": f"zz{i}"} for i in range(n)], blocks=blocks)


@family("with: keys without a close match", 64)
def _unknown_with(n: int) -> Data:
    params = {f"param{i}": 1 for i in range(n)}
    uses = [{"block": "b", "name": f"u{i}", "with": {f"zz{i}": 1}} for i in range(n)]
    return spec(uses, blocks={"b": _block([DROP], params)})


@family("missing required parameters in many uses", 40)
def _missing_many(n: int) -> Data:
    params = {f"param{i}": None for i in range(n)}
    return spec(
        [{"block": "b", "name": f"u{i}"} for i in range(n)], blocks={"b": _block([DROP], params)}
    )


@family("misspelt with: keys", 64)
def _typo_with(n: int) -> Data:
    params = {f"param{i}": 1 for i in range(n)}
    use = {"block": "b", "with": {f"parma{i}": 1 for i in range(n)}}
    return spec([use], blocks={"b": _block([DROP], params)})


@family("missing required parameters", 128)
def _missing_params(n: int) -> Data:
    params = {f"param{i}": None for i in range(n)}
    return spec([{"block": "b"}], blocks={"b": _block([DROP], params)})


@family("misspelt $param references", 64)
def _typo_refs(n: int) -> Data:
    params = {f"param{i}": 0.5 for i in range(n)}
    layers = [{"type": "dropout", "rate": f"$parma{i}"} for i in range(n)]
    return spec([{"block": "b"}], blocks={"b": _block(layers, params)})


@family("broken references inside a block", 64)
def _block_refs(n: int) -> Data:
    layers = [{"name": f"l{i}", **DROP, "inputs": [f"nope{i}"]} for i in range(n)]
    return spec([{"block": "b"}], blocks={"b": _block(layers)})


@family("an error in a block used many times", 40)
def _block_fold(n: int) -> Data:
    layers = [{"name": "conv", "type": "conv2d", "filters": 2, "kernel_size": 5}, DROP]
    return spec([{"block": "b", "name": f"u{i}"} for i in range(n)], blocks={"b": _block(layers)})


def _nested(depth: int, width: int) -> Data:
    # A chain of blocks `depth` deep, each adding `width` layers of its own.
    layers = [{"name": f"d{k}", **DROP} for k in range(width)]
    blocks = {
        f"b{i}": _block([*layers, {"block": f"b{i + 1}", "name": "n"}]) for i in range(depth - 1)
    }
    blocks[f"b{depth - 1}"] = _block(layers)
    return spec([{"block": "b0", "name": f"u{k}"} for k in range(2)], blocks=blocks)


@family("block nesting, many layers a level", 4, valid=True)
def _nesting_wide(n: int) -> Data:
    return _nested(8, n)


@family("block nesting to the depth cap", 2)
def _nesting_deep(n: int) -> Data:
    # The expanded names grow with the depth: past some 18 levels they are too long
    # (SG115), which the deepest levels report, with a note per enclosing use.
    return _nested(MAX_BLOCK_DEPTH, n)


# --- long values


@family("a long string as a layer name", 25_000)
def _long_name(n: int) -> Data:
    return spec([{"name": "n" * n, **DROP}, {**DROP, "inputs": "n" * (n - 1)}])


@family("a long string as a layer type", 25_000)
def _long_type(n: int) -> Data:
    return spec([{"type": "conv2d" * (n // 6)}])


@family("a long string as an activation", 25_000)
def _long_activation(n: int) -> Data:
    return spec([{"type": "activation", "activation": "relu" * (n // 4)}])


@family("a long string as a key", 25_000, syntax="json")
def _long_key(n: int) -> Data:
    # JSON: YAML allows no implicit key longer than 1,024 characters.
    return spec([{**DROP, "rate" * (n // 4): 1}])


@family("a long string as a block name", 25_000)
def _long_block(n: int) -> Data:
    return spec([{"block": "b" * n}], blocks={"b": _block([DROP])})


@family("a long per-channel list", 600, valid=True, json_too=True)
def _long_scale(n: int) -> Data:
    return spec([{"type": "rescaling", "scale": [0.5] * n, "offset": [0.0] * n}], (1, 1, n))


@family("a long per-channel list of the wrong length", 600)
def _long_scale_bad(n: int) -> Data:
    return spec([{"type": "normalization", "mean": [0.5] * n, "variance": [1.0] * n}])


@family("a long list of wrong values", 625)
def _long_bad_values(n: int) -> Data:
    return spec([{"type": "rescaling", "scale": ["x"] * n}])


@family("a long target_shape", 1250)
def _long_target(n: int) -> Data:
    return spec([{"type": "reshape", "target_shape": [1] * n}])


@family("a long expect", 1250)
def _long_expect(n: int) -> Data:
    return spec([{**DROP, "expect": [1] * n}])


@family("a long input shape", 1250)
def _long_input(n: int) -> Data:
    return spec([DROP], (1,) * n)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Cost:
    seconds: float
    calls: dict[str, int]  # function -> calls made to it (cProfile), deterministic
    chars: int  # characters of everything printed

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def candidates(self) -> int:
        """Strings a did-you-mean compared: `get_close_matches` calls `set_seq1` once per
        candidate."""
        return sum(
            n
            for f, n in self.calls.items()
            if f.startswith("difflib.py:") and f.endswith("(set_seq1)")
        )


def run(path: Path, valid: bool | None) -> int:
    """Everything a user can ask for about `path`; the number of characters printed."""
    result = check_file(path)
    diagnostics = result.report.diagnostics
    printed = [format_diagnostic(d) for d in diagnostics]
    printed.append(json.dumps([diagnostic_json(d) for d in diagnostics], indent=2))
    if valid is not None:
        assert (result.graph is not None) is valid, printed[:3]
    if result.graph is not None and result.document is not None:
        printed += [summary_text(result.graph, "x"), summary_json(result.graph, "x")]
        printed += [flat_yaml(result.document.data), flat_json(result.document.data)]
        for target in ("keras", "pytorch"):
            source, findings = emit_source(result.graph, target, "x", result.document.raw)
            assert source is not None, findings
            printed.append(source)
    return sum(len(p) for p in printed)


def profiled(path: Path, valid: bool | None) -> Cost:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    try:
        chars = run(path, valid)
    finally:
        profile.disable()
    seconds = time.perf_counter() - started
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    calls = {
        f"{Path(file).name}:{line}({name})": nc for (file, line, name), (_, nc, *_) in raw.items()
    }
    return Cost(seconds, calls, chars)


def timed(path: Path, valid: bool | None) -> float:
    started = time.perf_counter()
    run(path, valid)
    return time.perf_counter() - started


def write(fam: Family, n: int, folder: Path) -> Path:
    data = fam.build(n)
    path = folder / f"n{n}.{fam.syntax}"
    path.write_text(to_json(data) if fam.syntax == "json" else to_yaml(data), encoding="utf-8")
    return path


def measure(fam: Family, folder: Path, repeats: int = REPEATS) -> tuple[Cost, Cost]:
    """(cost at n, cost at 4n): the counts from one profiled run each; the time the
    minimum of `repeats` interleaved plain runs (none when `repeats` is 0: then the time
    is the profiled run's)."""
    paths = [write(fam, n, folder) for n in (fam.n, 4 * fam.n)]
    run(paths[0], fam.valid)  # warm up: imports, templates and caches made on first use
    costs = [profiled(path, fam.valid) for path in paths]
    for k in range(repeats):
        for path, cost in zip(paths, costs, strict=True):
            seconds = timed(path, fam.valid)
            cost.seconds = seconds if k == 0 else min(cost.seconds, seconds)
    return costs[0], costs[1]


def _ratio(small: float, big: float, floor: float) -> float:
    """big / small, with both at least `floor` (a count of 0 or 1 does not grow)."""
    return max(big, floor) / max(small, floor)


def growth(small: Cost, big: Cost, top: int = 5) -> str:
    """The functions whose calls grew the most from n to 4n: where a quadratic hides."""
    grown = sorted(((big.calls[f] - small.calls.get(f, 0), f) for f in big.calls), reverse=True)[
        :top
    ]
    return ", ".join(f"{f}: {small.calls.get(f, 0)} -> {big.calls[f]}" for _, f in grown)


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.name for f in FAMILIES])
def test_cost_grows_linearly(fam: Family, tmp_path: Path) -> None:
    with (
        mock.patch.object(expand, "HINT_BUDGET", HINT_BUDGET, create=True),
        mock.patch.object(suggest, "DEFAULT_BUDGET", HINT_BUDGET),
    ):
        small, big = measure(fam, tmp_path, repeats=0)
    calls = _ratio(small.total_calls, big.total_calls, 1)
    candidates = _ratio(small.candidates, big.candidates, 50)
    chars = _ratio(small.chars, big.chars, 1000)
    assert candidates < COUNT_RATIO, (
        f"did-you-mean candidates: {small.candidates} -> {big.candidates}"
    )
    assert calls < CALL_RATIO, f"calls x{calls:.1f}; grew most: {growth(small, big)}"
    assert chars < COUNT_RATIO, f"output: {small.chars} -> {big.chars} characters"
    # Time catches what no call count sees (a slice or a join inside a loop). The profiled
    # runs above, then up to REPEATS plain runs, taking the fastest of each size.
    for _ in range(REPEATS):
        if big.seconds / small.seconds < TIME_RATIO:
            break
        small.seconds = min(small.seconds, timed(tmp_path / f"n{fam.n}.{fam.syntax}", fam.valid))
        big.seconds = min(big.seconds, timed(tmp_path / f"n{4 * fam.n}.{fam.syntax}", fam.valid))
    assert big.seconds / small.seconds < TIME_RATIO, (
        f"time: {small.seconds:.3f} s -> {big.seconds:.3f} s"
    )


def main() -> None:
    """Print the audit table: ``python tests/test_scaling.py [--from NAME] [--scale X]
    [--repeats K] [name-filter]``."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("wanted", nargs="?", default="")
    parser.add_argument("--from", dest="first", default="")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    started = not args.first
    print(
        f"{'family':52} {'n':>7} {'t(n)':>7} {'t(4n)':>7} {'ratio':>6} {'calls':>6} "
        f"{'cand':>6} {'chars':>6}"
    )
    for fam in FAMILIES:
        started = started or fam.name == args.first
        if not started or args.wanted not in fam.name:
            continue
        scaled = Family(
            fam.name, fam.build, max(2, round(fam.n * args.scale)), fam.valid, fam.syntax
        )
        with tempfile.TemporaryDirectory() as folder:
            small, big = measure(scaled, Path(folder), args.repeats)
        print(
            f"{fam.name:52} {scaled.n:>7} {small.seconds:7.3f} {big.seconds:7.3f} "
            f"{big.seconds / small.seconds:6.1f} "
            f"{_ratio(small.total_calls, big.total_calls, 1):6.1f} "
            f"{_ratio(small.candidates, big.candidates, 50):6.1f} "
            f"{_ratio(small.chars, big.chars, 1000):6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
