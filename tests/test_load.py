"""The hardened loader: bytes -> plain values with positions, every problem a Diagnostic.

`specgen.load.parse_bytes` must never raise, whatever the bytes: a spec file is untrusted
input (pre-commit hooks run on whatever is committed). The last tests throw random bytes
and random mutations of a real spec at the whole `validate` command.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

import specgen.cli
from specgen.diagnostics import Diagnostic, Position
from specgen.load import Document, parse_bytes

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT / "specs" / "cifar10_cnn.yaml"


def ok(raw: bytes, syntax: str) -> Document:
    document, problem = parse_bytes(raw, syntax)
    assert problem is None, problem
    assert document is not None
    return document


def fails(raw: bytes, syntax: str, code: str) -> Diagnostic:
    document, problem = parse_bytes(raw, syntax)
    assert document is None
    assert problem is not None
    assert problem.code == code, problem
    assert "\n" not in problem.message  # one finding, one line
    return problem


# --- positions ------------------------------------------------------------------------------

JSON_DOC = b"""{
  "specgen": 1,
  "layers": [
    {"type": "conv2d",
     "filters": 32}
  ]
}"""

YAML_DOC = b"""\
# a comment
specgen: 1
layers:
  - type: conv2d
    filters: 32
  - {type: dense, units: [1, 2]}
"""


def test_json_positions_of_values_and_keys() -> None:
    doc = ok(JSON_DOC, "json")
    assert doc.data == {"specgen": 1, "layers": [{"type": "conv2d", "filters": 32}]}
    assert doc.positions[()] == Position(1, 1)
    assert doc.positions[("specgen",)] == Position(2, 14)
    assert doc.key_positions[("specgen",)] == Position(2, 3)
    assert doc.positions[("layers",)] == Position(3, 13)
    assert doc.positions[("layers", 0)] == Position(4, 5)
    assert doc.positions[("layers", 0, "type")] == Position(4, 14)
    assert doc.positions[("layers", 0, "filters")] == Position(5, 17)
    assert doc.key_positions[("layers", 0, "filters")] == Position(5, 6)
    assert doc.locate(("layers", 0, "filters"), key=True) == Position(5, 6)
    # A missing key is located at its nearest parent that exists.
    assert doc.locate(("layers", 0, "kernel_size")) == Position(4, 5)


def test_json_positions_with_crlf_line_ends() -> None:
    doc = ok(JSON_DOC.replace(b"\n", b"\r\n"), "json")
    assert doc.positions[("layers", 0, "filters")] == Position(5, 17)
    assert doc.key_positions[("layers", 0, "filters")] == Position(5, 6)


def test_yaml_positions_of_values_and_keys() -> None:
    doc = ok(YAML_DOC, "yaml")
    assert doc.data == {
        "specgen": 1,
        "layers": [{"type": "conv2d", "filters": 32}, {"type": "dense", "units": [1, 2]}],
    }
    assert doc.positions[("specgen",)] == Position(2, 10)
    assert doc.key_positions[("specgen",)] == Position(2, 1)
    assert doc.positions[("layers", 0)] == Position(4, 5)
    assert doc.positions[("layers", 0, "filters")] == Position(5, 14)
    assert doc.key_positions[("layers", 0, "filters")] == Position(5, 5)
    assert doc.positions[("layers", 1)] == Position(6, 5)
    assert doc.key_positions[("layers", 1, "units")] == Position(6, 19)
    assert doc.positions[("layers", 1, "units", 1)] == Position(6, 30)


def test_yaml_positions_with_crlf_and_bom() -> None:
    doc = ok(b"\xef\xbb\xbf" + YAML_DOC.replace(b"\n", b"\r\n"), "yaml")
    assert doc.positions[("layers", 0, "filters")] == Position(5, 14)
    assert doc.key_positions[("specgen",)] == Position(2, 1)


def test_syntax_error_positions() -> None:
    assert fails(b'{"a": 1\n "b": 2}', "json", "SG001").position == Position(2, 2)
    assert fails(b"a: [1, 2\nb: 3\n", "yaml", "SG001").position is not None
    assert fails(b'{"a": "x', "json", "SG001").position == Position(1, 7)


# --- duplicate keys, NaN, YAML features -----------------------------------------------------


def test_duplicate_keys_json() -> None:
    problem = fails(b'{"a": 1,\n "b": {"c": 1, "c": 2}}', "json", "SG002")
    assert problem.position == Position(2, 16)
    assert "'c'" in problem.message
    assert "line 2" in problem.message


def test_duplicate_keys_yaml() -> None:
    problem = fails(b"a: 1\nb:\n  c: 1\n  c: 2\n", "yaml", "SG002")
    assert problem.position == Position(4, 3)
    assert "'c'" in problem.message and "line 3" in problem.message
    fails(b"{a: 1, a: 1}\n", "yaml", "SG002")
    # Keys that differ only by quoting are the same key.
    fails(b'a: 1\n"a": 2\n', "yaml", "SG002")


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity(word: str) -> None:
    problem = fails(b'{"rate":\n  ' + word.encode() + b"}", "json", "SG003")
    assert problem.position == Position(2, 3)
    assert word in problem.message


@pytest.mark.parametrize("word", [".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.inf", ".Inf"])
def test_yaml_nan_and_infinity(word: str) -> None:
    problem = fails(b"a: 1\nrate: " + word.encode() + b"\n", "yaml", "SG003")
    assert problem.position == Position(2, 7)


def test_float_overflow_is_sg003() -> None:
    fails(b'{"a": 1e400}', "json", "SG003")
    fails(b"a: -1e400\n", "yaml", "SG003")


@pytest.mark.parametrize(
    "raw",
    [
        b"a: &x 1\nb: *x\n",
        b"base: &b {type: dense}\nlayers: [*b, *b]\n",
        b"a: !!python/object:os.system 1\n",
        b'a: !!python/object/apply:os.system ["true"]\n',
        b"a: !!python/name:os.system\n",
        b"a: !custom 1\n",
        b"a: !!binary aGVsbG8=\n",
        b"a: !!set {x, y}\n",
    ],
)
def test_yaml_anchors_aliases_and_tags_are_refused(raw: bytes) -> None:
    problem = fails(raw, "yaml", "SG004")
    assert problem.position is not None


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    fails("\n".join(lines).encode(), "yaml", "SG004")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param(b"a: !!float 1\n", 1.0, id="float"),
        pytest.param(b'a: !!int "1"\n', 1, id="int"),
        pytest.param(b"a: !!str 1\n", "1", id="str"),
    ],
)
def test_explicit_standard_tags_are_refused_or_honoured(raw: bytes, value: object) -> None:
    """An explicit tag must never be silently ignored: `!!float 1` is not the int 1."""
    document, problem = parse_bytes(raw, "yaml")
    if problem is not None:
        assert problem.code == "SG004"
    else:
        assert document is not None
        got = document.data["a"]
        assert (type(got), got) == (type(value), value)


def test_multiple_yaml_documents() -> None:
    problem = fails(b"a: 1\n---\nb: 2\n", "yaml", "SG004")
    assert problem.position == Position(2, 1)
    # One document with explicit markers is fine.
    assert ok(b"---\na: 1\n...\n", "yaml").data == {"a": 1}


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_empty_file(raw: bytes, syntax: str) -> None:
    assert fails(raw, syntax, "SG006").position == Position(1, 1)


def test_comment_only_yaml_is_empty() -> None:
    fails(b"# nothing here\n", "yaml", "SG006")


@pytest.mark.parametrize(
    ("raw", "syntax"),
    [
        (b"[1, 2]", "json"),
        (b'"spec"', "json"),
        (b"3", "json"),
        (b"null", "json"),
        (b"- a\n- b\n", "yaml"),
        (b"just a string\n", "yaml"),
        (b"42\n", "yaml"),
        (b"~\n", "yaml"),
    ],
)
def test_top_level_must_be_a_mapping(raw: bytes, syntax: str) -> None:
    fails(raw, syntax, "SG006")


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_invalid_utf8_with_position(syntax: str) -> None:
    raw = (
        b'{"specgen": 1,\n "name": "ab\xff"}' if syntax == "json" else b"specgen: 1\nname: ab\xff\n"
    )
    problem = fails(raw, syntax, "SG007")
    column = 13 if syntax == "json" else 9
    assert problem.position == Position(2, column)
    assert "0xff" in problem.message


def test_invalid_utf8_column_counts_characters_like_other_diagnostics() -> None:
    """Columns count characters everywhere (see the anchor below), so 'é' is one column."""
    problem = fails("a: 1\nname: éé".encode() + b"\xff\n", "yaml", "SG007")
    assert problem.position == Position(2, 9)
    anchor = fails("a: 1\nname: [éé, &x 1]\n".encode(), "yaml", "SG004")
    assert anchor.position == Position(2, 12)


def test_truncated_utf8_sequence() -> None:
    problem = fails(b"a: \xc3", "yaml", "SG007")
    assert problem.position == Position(1, 4)


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_bom_is_accepted(syntax: str) -> None:
    raw = b'{"a": 1}' if syntax == "json" else b"a: 1\n"
    doc = ok(b"\xef\xbb\xbf" + raw, syntax)
    assert doc.data == {"a": 1}
    assert doc.positions[("a",)].line == 1


@pytest.mark.parametrize(
    ("raw", "syntax"),
    [
        pytest.param(b"[" * 1000 + b"]" * 1000, "json", id="json-lists"),
        pytest.param(b'{"a":' * 1000 + b"1" + b"}" * 1000, "json", id="json-objects"),
        pytest.param(b"[" * 1000 + b"]" * 1000, "yaml", id="yaml-flow-lists"),
        pytest.param(b"{a: " * 1000 + b"1" + b"}" * 1000, "yaml", id="yaml-flow-mappings"),
        pytest.param(
            b"".join(b"  " * i + b"a:\n" for i in range(1000)) + b"  " * 1000 + b"1\n",
            "yaml",
            id="yaml-block-mappings",
        ),
        pytest.param(
            b"".join(b"  " * i + b"-\n" for i in range(1000)) + b"  " * 1000 + b"1\n",
            "yaml",
            id="yaml-block-lists",
        ),
        pytest.param(
            b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "yaml", id="yaml-100000-deep"
        ),
    ],
)
def test_deep_nesting_is_sg005_not_recursion_error(raw: bytes, syntax: str) -> None:
    problem = fails(raw, syntax, "SG005")
    assert problem.position is not None


def test_moderate_nesting_is_fine() -> None:
    nested: list[object] = []
    for _ in range(29):
        nested = [nested]
    assert ok(b'{"a":' + b"[" * 30 + b"]" * 30 + b"}", "json").data == {"a": nested}
    assert ok(b"a: " + b"[" * 30 + b"]" * 30 + b"\n", "yaml").data == {"a": nested}


def test_file_too_large() -> None:
    raw = b'{"a": "' + b"x" * (4 * 1024 * 1024 + 10) + b'"}'
    fails(raw, "json", "SG005")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": [1, 2,]}', "trailing comma"),
        (b'{"a": 1,}', "trailing comma"),
        (b'{"a": 1} // comment', None),
        (b'{"a": /* comment */ 1}', None),
        (b'# comment\n{"a": 1}', None),
        (b"{'a': 1}", None),
        (b"{a: 1}", None),
        (b'{"a": 01}', None),
        (b'{"a": .5}', None),
        (b'{"a": +1}', None),
        (b'{"a": 0x10}', None),
        (b'{"a": "\\x41"}', None),
        (b'{"a": "tab\there"}', None),
        (b'{"a": "\\ud800"}', None),
        (b'{"a": 1} {"b": 2}', None),
        (b'{"a": tru}', None),
        (b'{"a" 1}', None),
    ],
)
def test_json_is_strict(raw: bytes, message: str | None) -> None:
    problem = fails(raw, "json", "SG001")
    assert problem.position is not None
    if message is not None:
        assert message in problem.message


def test_json_escapes_and_unicode() -> None:
    doc = ok(b'{"a": "\\u00e9\\n\\ud83d\\ude00", "b": "\xc3\xa9"}', "json")
    assert doc.data == {"a": "\u00e9\n\U0001f600", "b": "\u00e9"}


# --- YAML 1.2 scalars, strict number types --------------------------------------------------

YAML_SCALARS = b"""\
a: yes
b: 1e-5
c: 0x10
d: "3"
e: 3
f: 3.0
g: on
h: no
i: 0o17
j: true
k: null
l: ~
m: '7'
n: 2001-01-01
o: -12
p: 1.5e+3
q: Off
r: y
"""


def test_yaml_1_2_core_scalars() -> None:
    data = ok(YAML_SCALARS, "yaml").data
    expected: dict[str, object] = {
        "a": "yes",
        "b": 1e-5,
        "c": 16,
        "d": "3",
        "e": 3,
        "f": 3.0,
        "g": "on",
        "h": "no",
        "i": 15,
        "j": True,
        "k": None,
        "l": None,
        "m": "7",
        "n": "2001-01-01",
        "o": -12,
        "p": 1500.0,
        "q": "Off",
        "r": "y",
    }
    assert data == expected
    # == alone would let 3 == 3.0 == True slip through: compare the types too.
    assert {k: type(v) for k, v in data.items()} == {k: type(v) for k, v in expected.items()}


def test_json_ints_stay_ints_and_floats_stay_floats() -> None:
    data = ok(b'{"a": 3, "b": 3.0, "c": 1e2, "d": -0, "e": 1E-5, "f": true}', "json").data
    assert [type(data[k]) for k in "abcdef"] == [int, float, float, int, float, bool]
    assert data == {"a": 3, "b": 3.0, "c": 100.0, "d": 0, "e": 1e-5, "f": True}


def test_yaml_non_string_keys_are_refused() -> None:
    fails(b"1: a\n", "yaml", "SG004")
    fails(b"true: a\n", "yaml", "SG004")
    fails(b"? [a]\n: b\n", "yaml", "SG004")
    assert ok(b'"1": a\n', "yaml").data == {"1": "a"}


@pytest.mark.parametrize(
    ("raw", "syntax"),
    [
        pytest.param(b'{"a": ' + b"9" * 5000 + b"}", "json", id="json-int"),
        pytest.param(b'{"a": 1.' + b"0" * 5000 + b"}", "json", id="json-fraction"),
        pytest.param(b'{"a": 1e' + b"9" * 5000 + b"}", "json", id="json-exponent"),
        pytest.param(b"a: " + b"9" * 5000 + b"\n", "yaml", id="yaml-int"),
        pytest.param(b"a: -" + b"9" * 5000 + b"\n", "yaml", id="yaml-negative-int"),
        pytest.param(b"a: 0x" + b"f" * 5000 + b"\n", "yaml", id="yaml-hex"),
        pytest.param(b"a: 0o" + b"7" * 5000 + b"\n", "yaml", id="yaml-octal"),
    ],
)
def test_giant_number_literal_is_rejected(raw: bytes, syntax: str) -> None:
    document, problem = parse_bytes(raw, syntax)
    assert document is None, "a number literal of thousands of digits must be refused"
    assert problem is not None
    assert problem.code in ("SG001", "SG005")
    assert problem.position is not None


@pytest.mark.parametrize(
    "char",
    [b"\x00", b"\x01", b"\x1b", b"\x7f", b"\xef\xbf\xbe"],
    ids=["nul", "soh", "esc", "del", "u+fffe"],
)
def test_yaml_control_characters_are_a_finding(char: bytes) -> None:
    raw = b"specgen: 1\nname: ab" + char + b"\n"
    document, problem = parse_bytes(raw, "yaml")
    assert document is None
    assert problem is not None
    assert problem.code == "SG001"
    assert problem.position == Position(2, 9)
    assert "\n" not in problem.message


def test_json_control_characters_are_a_finding() -> None:
    problem = fails(b'{"a": "b\x00"}', "json", "SG001")
    assert problem.position == Position(1, 9)
    fails(b'{"a": 1}\x00', "json", "SG001")


# --- whole-command robustness ---------------------------------------------------------------


def validate_exit(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as excinfo:
        specgen.cli.main(["validate", str(path)])
    captured = capsys.readouterr()
    code = excinfo.value.code
    return (0 if code is None else int(code)), captured.out + captured.err


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        pytest.param("deep.yaml", b"[" * 1000 + b"]" * 1000, id="deep"),
        pytest.param(
            "hex.yaml",
            b"specgen: 1\nname: m\ninput: {shape: [0x" + b"f" * 5000 + b", 8, 3]}\n",
            id="giant-hex",
        ),
        pytest.param("nul.yaml", b"specgen: 1\nname: m\x00\n", id="nul"),
        pytest.param(
            "big.yaml",
            b"specgen: 1\nname: m\ninput: {shape: [" + b"9" * 99 + b", 8, 3]}\n",
            id="99-digits",
        ),
    ],
)
def test_validate_hostile_files_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, raw: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(raw)
    code, output = validate_exit(path, capsys)
    assert code == 1, output
    assert "Traceback" not in output and "internal error" not in output
    assert f"{path}:" in output


MUTATION_ALPHABET = b" \n\t:,-[]{}\"'#&*!|>%@`0123456789.eE+xo\\\x00\x7f\xff\xc3"


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Delete, insert, duplicate or overwrite a few short stretches of `data`."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(out) + 1)
        operation = rng.randrange(4)
        if operation == 0 and out:
            del out[at : at + rng.randint(1, 4)]
        elif operation == 1:
            byte = rng.choice(MUTATION_ALPHABET) if rng.random() < 0.8 else rng.randrange(256)
            out[at:at] = bytes([byte])
        elif operation == 2 and out:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randint(1, 20)]
        elif out and at < len(out):
            out[at] = rng.choice(MUTATION_ALPHABET)
    return bytes(out)


def test_random_inputs_never_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Random bytes and mutations of a real spec: a finding (1) or valid (0), never a bug (3)."""
    yaml_source = CIFAR.read_bytes()
    json_source = json.dumps(yaml.safe_load(yaml_source), indent=2).encode()
    rng = random.Random(20240607)
    crashes: list[tuple[str, bytes, str]] = []
    codes: set[int] = set()
    for iteration in range(600):
        roll = rng.random()
        if roll < 0.15:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
            suffix = rng.choice([".yaml", ".json"])
        elif roll < 0.6:
            raw, suffix = mutate(rng, yaml_source), ".yaml"
        else:
            raw, suffix = mutate(rng, json_source), ".json"
        path = tmp_path / f"case{suffix}"
        path.write_bytes(raw)
        code, output = validate_exit(path, capsys)
        codes.add(code)
        if code not in (0, 1) or "Traceback" in output:
            crashes.append((f"iteration {iteration}", raw[:300], output[-300:]))
    assert crashes == []
    assert codes == {0, 1}  # both outcomes happen: the mutations are neither all fatal nor no-ops
