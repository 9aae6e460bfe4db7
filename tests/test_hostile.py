"""Hostile files: one per limit of the loader and the block expansion, each refused with
the right code at the right place, through the real program, in well under a second.

Each file in ``tests/hostile/`` has one row in `HOSTILE`: its name, the code it must
produce and where (line, column; None where the file has no position for it, such as a
file over the byte cap). Most files are large and machine-made: their rows name the
function that writes them, and `test_generated_hostile_file_is_up_to_date` keeps the
committed bytes equal to it. Regenerate them after changing a generator with::

    .venv/bin/python tests/test_hostile.py

A hand-written hostile file (a new resource limit, say) is one row with ``make=None``.

Each file runs through the console script in a subprocess: exit code 1, the expected
finding among the JSON findings, no traceback, no finding longer than
`MAX_OUTPUT_PER_FINDING` characters. How long each takes is measured by
``python benchmarks/hostile.py`` (interleaved rounds, medians, against the standard
library's parser on the same file), not asserted here: the goal is under a second each,
and the tests that keep it are the operation counts of tests/test_scaling.py and
tests/test_loader_paths.py.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from specgen.limits import DEFAULT_LIMITS
from specgen.load import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_NUMBER_CHARS

HOSTILE_DIR = Path(__file__).resolve().parent / "hostile"
# Output stays proportional to the findings: a 100,000-character name is never echoed.
MAX_OUTPUT_PER_FINDING = 2_000

LAYERS = DEFAULT_LIMITS.layers
HEADER = "specgen: 1\nname: hostile\ninput: {shape: [8, 8, 3]}\n"
JSON_HEADER = '{"specgen": 1, "name": "hostile", "input": {"shape": [8, 8, 3]}'


# --- generators: each returns the file's bytes ---------------------------------------------


def _too_large() -> bytes:
    """One byte over the cap: a valid spec followed by a long comment."""
    text = HEADER + "layers:\n  - {type: flatten}\n#"
    return (text + "x" * (MAX_FILE_BYTES + 1 - len(text) - 1) + "\n").encode()


def _yaml_blank_lines_under_cap() -> bytes:
    """Just under the byte cap: blank lines (PyYAML's pure-Python scanner is slow on
    them), then a mistake on the last line: an unknown layer type."""
    head = HEADER + "layers:\n  - {type: flatten}\n"
    tail = "  - {type: convolution}\n"
    return (head + "\n" * (MAX_FILE_BYTES - 16 - len(head) - len(tail)) + tail).encode()


def _json_escapes_under_cap() -> bytes:
    """Just under the byte cap: one string of \\u escapes, then a wrong version."""
    head = JSON_HEADER + ', "layers": [{"type": "flatten", "name": "'
    tail = '"}],\n"specgen": 2}'  # a duplicate key: the last word of the file
    count = (MAX_FILE_BYTES - 16 - len(head) - len(tail)) // 6
    return (head + "\\u0061" * count + tail).encode()


def _deep_json() -> bytes:
    """`expect` nested 100,000 levels deep (the parser must not recurse that far)."""
    depth = 100_000
    body = ', "layers": [{"type": "flatten", "expect": ' + "[" * depth + "]" * depth + "}]}"
    return (JSON_HEADER + body).encode()


def _deep_json_mappings() -> bytes:
    depth = 100_000
    body = ', "layers": [{"type": "flatten", "expect": ' + '{"a": ' * depth + "1" + "}" * depth
    return (JSON_HEADER + body + "}]}").encode()


def _deep_flow_sequence() -> bytes:
    depth = 100_000
    return (
        HEADER + "layers:\n  - {type: flatten, expect: " + "[" * depth + "]" * depth + "}\n"
    ).encode()


def _deep_block_nesting() -> bytes:
    """Block-style nesting, one level per line (indentation only, no brackets)."""
    lines = [HEADER + "layers:\n  - type: flatten\n    expect:\n"]
    lines += [" " * (6 + 2 * i) + "-\n" for i in range(2 * MAX_DEPTH)]
    return "".join(lines).encode()


def _many_values_json() -> bytes:
    """More values than the cap, as the cheapest possible values."""
    ones = ",".join(["1"] * (MAX_NODES + 10))
    return (JSON_HEADER + ', "layers": [{"type": "flatten"}], "outputs": [' + ones + "]}").encode()


def _many_values_yaml() -> bytes:
    ones = ", ".join(["1"] * (MAX_NODES + 10))
    return (HEADER + "layers:\n  - {type: flatten}\noutputs: [" + ones + "]\n").encode()


def _many_documents() -> bytes:
    """Tens of thousands of empty YAML documents after the spec."""
    return (HEADER + "layers:\n  - {type: flatten}\n" + "---\n" * (MAX_NODES // 2)).encode()


def _long_number_json() -> bytes:
    digits = "9" * 100_000
    return (JSON_HEADER + ', "layers": [{"type": "dense", "units": ' + digits + "}]}").encode()


def _long_number_yaml() -> bytes:
    """10**400 written out, and then much longer: int() of a long literal is quadratic."""
    digits = "1" + "0" * 400 + "9" * 100_000
    return (HEADER + f"layers:\n  - {{type: dense, units: {digits}}}\n").encode()


def _number_just_over_cap() -> bytes:
    literal = "1" + "0" * MAX_NUMBER_CHARS  # MAX_NUMBER_CHARS + 1 characters
    return (HEADER + f"layers:\n  - {{type: dense, units: {literal}}}\n").encode()


def _huge_exponent_json() -> bytes:
    return (JSON_HEADER + ', "layers": [{"type": "dropout", "rate": 1e999}]}').encode()


def _huge_exponent_yaml() -> bytes:
    return (HEADER + "layers:\n  - {type: dropout, rate: -1e999}\n").encode()


def _block_bomb() -> bytes:
    """repeat: 1000 four levels deep: 10**12 layers if it were ever unrolled."""
    return (
        HEADER
        + "blocks:\n"
        + "  a: {layers: [{block: b, repeat: 1000}]}\n"
        + "  b: {layers: [{block: c, repeat: 1000}]}\n"
        + "  c: {layers: [{block: d, repeat: 1000}]}\n"
        + "  d: {layers: [{type: activation, activation: relu}]}\n"
        + "layers:\n"
        + "  - {block: a, repeat: 1000}\n"
        + "  - {type: flatten}\n"
    ).encode()


def _block_bomb_at_the_limit() -> bytes:
    """Exactly as many layers as the expansion allows (`Limits.layers`) from nine lines,
    and a mistake in the last one: the expansion itself must be fast, not only its
    refusal."""
    return (
        HEADER
        + "blocks:\n"
        + "  b: {layers: [{type: activation, activation: relu}]}\n"
        + "layers:\n"
        + f"  - {{block: b, repeat: {LAYERS - 1}}}\n"
        + "  - {type: dense, units: 10}\n"
    ).encode()


def _block_nesting_too_deep() -> bytes:
    """Blocks using blocks 40 levels deep (the limit is 32)."""
    depth = 40
    lines = [HEADER, "blocks:\n"]
    for i in range(depth):
        lines.append(f"  b{i}: {{layers: [{{block: b{i + 1}}}]}}\n")
    lines.append(f"  b{depth}: {{layers: [{{type: flatten}}]}}\n")
    lines.append("layers:\n  - {block: b0}\n")
    return "".join(lines).encode()


def _chain_blocks(count: int, *, cycle: bool) -> bytes:
    blocks = []
    for i in range(count):
        target = f"b{(i + 1) % count}" if cycle else f"b{i + 1}"
        blocks.append(f'"b{i}": {{"layers": [{{"block": "{target}"}}]}}')
    if not cycle:
        blocks.append(f'"b{count}": {{"layers": [{{"type": "flatten"}}]}}')
    return (
        JSON_HEADER
        + ',\n"blocks": {\n'
        + ",\n".join(blocks)
        + '\n},\n"layers": [{"block": "b0"}]}\n'
    ).encode()


def _long_block_chain() -> bytes:
    """5,000 blocks, each using the next: refused for depth, without deep recursion."""
    return _chain_blocks(5_000, cycle=False)


def _long_block_cycle() -> bytes:
    """5,000 blocks in one cycle."""
    return _chain_blocks(5_000, cycle=True)


def _broken_references() -> bytes:
    """5,000 layers, each naming an input that does not exist (did-you-mean must not be
    quadratic)."""
    layers = [
        f'{{"type": "activation", "activation": "relu", "name": "layer_{i}", '
        f'"inputs": ["missing_{i}"]}}'
        for i in range(5_000)
    ]
    return (JSON_HEADER + ',\n"layers": [\n' + ",\n".join(layers) + "\n]}\n").encode()


def _self_references() -> bytes:
    layers = [
        f'{{"type": "activation", "activation": "relu", "name": "l{i}", "inputs": "l{i}"}}'
        for i in range(5_000)
    ]
    return (JSON_HEADER + ',\n"layers": [\n' + ",\n".join(layers) + "\n]}\n").encode()


def _merge_many_inputs() -> bytes:
    """An add of 50,000 inputs, then a layer of unknown type."""
    refs = ", ".join(['"input"'] * 50_000)
    return (
        JSON_HEADER
        + ',\n"layers": [\n{"type": "add", "inputs": ['
        + refs
        + ']},\n{"type": "conv3d"}\n]}\n'
    ).encode()


def _flat_layers(count: int) -> bytes:
    """`count` plain layers, written out, the last one a mistake."""
    layers = ['{"type": "batch_norm"}'] * (count - 1) + ['{"type": "dense", "units": 10}']
    return (JSON_HEADER + ',\n"layers": [\n' + ",\n".join(layers) + "\n]}\n").encode()


def _layers_at_the_limit() -> bytes:
    """Exactly `Limits.layers` layers: every one checked, the last one wrong."""
    return _flat_layers(LAYERS)


def _many_layers() -> bytes:
    """As many plain layers as the value cap lets through: refused for the layer count
    before they are checked one by one."""
    return _flat_layers((MAX_NODES - 20) // 2)


def _long_name() -> bytes:
    """A layer name of 100,000 characters (the cap is 40): refused, and never echoed."""
    return (HEADER + "layers:\n  - {type: flatten, name: " + "n" * 100_000 + "}\n").encode()


def _long_key() -> bytes:
    """An unknown key of 100,000 characters: did-you-mean on it must stay cheap. (JSON:
    YAML's simple keys stop at 1,024 characters.)"""
    key = "k" * 100_000
    return (JSON_HEADER + ', "layers": [{"type": "flatten", "' + key + '": 1}]}').encode()


def _billion_laughs() -> bytes:
    lines = [HEADER, "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    for i in range(1, 10):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"lol{i}: &l{i} [{refs}]\n")
    lines.append("layers:\n  - {type: flatten, name: *l9}\n")
    return "".join(lines).encode()


def _yaml_merge_keys() -> bytes:
    return (
        HEADER
        + "base: &base {type: conv2d, filters: 8, kernel_size: 3}\n"
        + "layers:\n  - {<<: *base, name: c1}\n  - {<<: *base, name: c2}\n"
    ).encode()


def _yaml_python_tag() -> bytes:
    return (HEADER + 'layers:\n  - !!python/object/apply:os.system ["echo pwned"]\n').encode()


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    file: str
    code: str
    position: tuple[int, int] | None  # (line, column); None: the file has none for it
    make: Callable[[], bytes] | None = None  # None: the file is written by hand


HOSTILE: list[Hostile] = [
    # SG005: the byte cap, checked before anything is parsed (no position to give)
    Hostile("too_large.yaml", "SG005", None, _too_large),
    # just under the byte cap: all of it read and parsed (4 MiB of blank lines, of \u
    # escapes), with the mistake at the very end
    Hostile("yaml_blank_lines_under_cap.yaml", "SG105", (4194191, 12), _yaml_blank_lines_under_cap),
    Hostile("json_escapes_under_cap.json", "SG002", (2, 1), _json_escapes_under_cap),
    # SG005: nesting deeper than 64 levels (65 nested collections are allowed, in JSON and
    # YAML alike), at the first collection past the cap
    Hostile("deep_sequences.json", "SG005", (1, 169), _deep_json),
    Hostile("deep_mappings.json", "SG005", (1, 479), _deep_json_mappings),
    Hostile("deep_flow_sequence.yaml", "SG005", (5, 91), _deep_flow_sequence),
    Hostile("deep_block_nesting.yaml", "SG005", (69, 131), _deep_block_nesting),
    # SG005: more than 100,000 values
    Hostile("many_values.json", "SG005", (1, 200087), _many_values_json),
    Hostile("many_values.yaml", "SG005", (6, 299975), _many_values_yaml),
    # tens of thousands of YAML documents: refused at the second one (SG004)
    Hostile("many_documents.yaml", "SG004", (6, 1), _many_documents),
    # exactly as many layers as the limit (10,000), the last one wrong; and as many as the
    # value cap lets through (49,990): SG211 at the first layer past the limit
    Hostile("layers_at_the_limit.json", "SG203", (10002, 1), _layers_at_the_limit),
    Hostile("many_layers.json", "SG211", (10003, 1), _many_layers),
    # number literals longer than 100 characters (SG001), floats that overflow (SG003)
    Hostile("long_number.json", "SG001", (1, 104), _long_number_json),
    Hostile("long_number.yaml", "SG001", (5, 26), _long_number_yaml),
    Hostile("number_just_over_cap.yaml", "SG001", (5, 26), _number_just_over_cap),
    Hostile("huge_exponent.json", "SG003", (1, 105), _huge_exponent_json),
    Hostile("huge_exponent.yaml", "SG003", (5, 27), _huge_exponent_yaml),
    # SG004: YAML features that could expand or execute
    Hostile("billion_laughs.yaml", "SG004", (4, 7), _billion_laughs),
    Hostile("yaml_merge_keys.yaml", "SG004", (4, 7), _yaml_merge_keys),
    Hostile("yaml_python_tag.yaml", "SG004", (5, 5), _yaml_python_tag),
    # names: over the 40-character cap
    Hostile("long_name.yaml", "SG104", (5, 27), _long_name),
    Hostile("long_key.json", "SG102", (1, 97), _long_key),
    # blocks: SG114 (size, depth), SG113 (cycles), without unrolling or deep recursion
    Hostile("block_bomb.yaml", "SG114", (10, 5), _block_bomb),
    # 10,000 layers (the limit) from nine lines, the last one wrong
    Hostile("block_bomb_at_the_limit.yaml", "SG203", (8, 5), _block_bomb_at_the_limit),
    Hostile("block_nesting_too_deep.yaml", "SG114", (47, 13), _block_nesting_too_deep),
    Hostile("long_block_chain.json", "SG114", (5005, 22), _long_block_chain),
    Hostile("long_block_cycle.json", "SG113", (5002, 32), _long_block_cycle),
    # the graph: thousands of findings, and a merge of 50,000 inputs
    Hostile("broken_references.json", "SG108", (3, 76), _broken_references),
    Hostile("self_references.json", "SG108", (3, 70), _self_references),
    Hostile("merge_many_inputs.json", "SG105", (4, 10), _merge_many_inputs),
]


# --- running --------------------------------------------------------------------------------


def _console_script() -> str:
    found = shutil.which("specgen", path=str(Path(sys.executable).parent))
    assert found is not None, "the specgen console script is not installed next to python"
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


ROWS = [pytest.param(h, id=h.file) for h in HOSTILE]


@functools.cache
def _real_run(file: str) -> subprocess.CompletedProcess[str]:
    """`specgen validate --format json FILE` through the console script (once per file)."""
    return subprocess.run(
        [_console_script(), "validate", "--format", "json", str(HOSTILE_DIR / file)],
        capture_output=True,
        text=True,
        timeout=300,  # a hang fails the test instead of blocking the suite
    )


@pytest.mark.parametrize("hostile", ROWS)
def test_hostile_file_is_refused_by_the_real_program(hostile: Hostile) -> None:
    proc = _real_run(hostile.file)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1, proc.stderr[-2000:]
    payload = json.loads(proc.stdout, parse_constant=_reject_constant)
    found = payload["files"][0]["diagnostics"]
    where = {
        (d["code"], (d["line"], d["column"]) if d["line"] is not None else None) for d in found
    }
    assert (hostile.code, hostile.position) in where, sorted(where, key=str)[:10]


@pytest.mark.parametrize("hostile", ROWS)
def test_hostile_file_output_stays_small(hostile: Hostile) -> None:
    """What a file says is cut short: a 100,000-character name or a cycle through 5,000
    blocks is not echoed in full (at most `MAX_OUTPUT_PER_FINDING` characters a finding)."""
    proc = _real_run(hostile.file)
    found = json.loads(proc.stdout, parse_constant=_reject_constant)["files"][0]["diagnostics"]
    longest = max((len(json.dumps(d)) for d in found), default=0)
    assert longest <= MAX_OUTPUT_PER_FINDING, f"a finding of {longest:,} characters"


def test_every_hostile_file_has_a_row() -> None:
    files = {p.name for p in HOSTILE_DIR.iterdir() if p.is_file()}
    rows = [h.file for h in HOSTILE]
    assert len(rows) == len(set(rows)), "a file is listed twice in HOSTILE"
    assert files - set(rows) == set(), "add a row to HOSTILE for each new file"
    assert set(rows) - files == set(), "HOSTILE lists files that do not exist"


@pytest.mark.parametrize("hostile", [pytest.param(h, id=h.file) for h in HOSTILE if h.make])
def test_generated_hostile_file_is_up_to_date(hostile: Hostile) -> None:
    assert hostile.make is not None
    committed = (HOSTILE_DIR / hostile.file).read_bytes()
    assert committed == hostile.make(), f"run `python {Path(__file__).name}` to regenerate"


def regenerate() -> None:
    HOSTILE_DIR.mkdir(exist_ok=True)
    for hostile in HOSTILE:
        if hostile.make is not None:
            (HOSTILE_DIR / hostile.file).write_bytes(hostile.make())
            print(f"wrote {hostile.file}")


if __name__ == "__main__":
    regenerate()
