"""The loaders' fast paths and their exact twins give the same values and positions.

YAML: one pass over libyaml's event stream, the pure-Python parser as the fallback.
JSON: the standard library's C parser with refusing hooks, the position-keeping parser
when the fast path has a doubt, and for positions when a message needs one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import specgen.load
from specgen.check import check_file
from specgen.load import (
    MAX_NODES,
    Document,
    LazyJsonPositions,
    LoadError,
    _decode,
    _fast_json,
    _index,
    _JsonParser,
    _parse_json,
    _parse_yaml,
)

ROOT = Path(__file__).resolve().parent.parent
# Every spec-sized file (the hostile files over 64 KiB test limits, not syntax, and the
# pure-Python parser takes tens of seconds on them).
SMALL = 64 * 1024
YAML_FILES = sorted(
    p
    for folder in (
        "specs",
        "tests/cases",
        "tests/cases_pytorch_only",
        "tests/hostile",
        "tests/invalid",
    )
    for p in (ROOT / folder).rglob("*")
    if p.suffix in (".yaml", ".yml") and p.stat().st_size <= SMALL
)


def _outcome(path: Path, parser: type[Any]) -> tuple[Any, ...]:
    """What the loader makes of `path` with `parser`: the document, or the error."""
    raw = path.read_bytes()
    try:
        text = _decode(raw)
        document = _parse_yaml(text, parser)
    except LoadError as error:
        d = error.diagnostic
        return ("error", d.code, d.position, d.json_path)
    return ("ok", document.data, document.positions, document.key_positions)


def test_libyaml_is_the_parser_here() -> None:
    """CI must measure the fast path: PyYAML's wheels carry libyaml."""
    assert yaml.__with_libyaml__
    assert specgen.load.YAML_PARSER is yaml.CSafeLoader


def test_the_corpus_is_collected() -> None:
    assert len(YAML_FILES) > 100
    assert any("invalid" in p.parts for p in YAML_FILES)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_libyaml_and_pure_python_agree(path: Path) -> None:
    """Same values, same value and key positions; for a refused file, the same code at the
    same place (libyaml's own nesting cap fires while scanning ahead: same code only)."""
    fast = _outcome(path, yaml.CSafeLoader)
    slow = _outcome(path, yaml.SafeLoader)
    if fast[0] == "error" and fast[1] == "SG005" and slow[:2] == fast[:2]:
        return
    assert fast == slow


def _count_parsers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    base = specgen.load.YAML_PARSER

    class Counting(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            made.append(stream[:20])
            super().__init__(stream)

    monkeypatch.setattr(specgen.load, "YAML_PARSER", Counting)
    return made


def test_one_parse_per_yaml_file(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _count_parsers(monkeypatch)
    for name in ("cifar10_cnn.yaml", "resnet20_cifar.yaml", "zoo/inception_v3.yaml"):
        made.clear()
        result = check_file(ROOT / "specs" / name)
        assert result.graph is not None
        assert len(made) == 1, name


def test_one_parse_for_a_refused_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made = _count_parsers(monkeypatch)
    bad = tmp_path / "deep.yaml"
    bad.write_text("a: " + "[" * 200 + "]" * 200 + "\n", encoding="utf-8")
    result = check_file(bad)
    assert [d.code for d in result.report.diagnostics] == ["SG005"]
    assert len(made) == 1


@pytest.mark.parametrize("parser", [yaml.CSafeLoader, yaml.SafeLoader], ids=["libyaml", "pure"])
@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("a: &x 1\nb: *x\n", "SG004", 1, 4),
        ("a: !!float 1\n", "SG004", 1, 4),
        ("a: !!python/object:os.system x\n", "SG004", 1, 4),
        ("a: 1\na: 2\n", "SG002", 2, 1),
        ("a: 1\n---\nb: 2\n", "SG004", 2, 1),
        ("? [1]\n: 2\n", "SG004", 1, 3),
        ("1: x\n", "SG004", 1, 1),
        ("a: .inf\n", "SG003", 1, 4),
        ("a: [1, 2\n", "SG001", 2, 1),
        ("", "SG006", 1, 1),
        ("# only a comment\n", "SG006", 1, 1),
    ],
)
def test_every_rule_holds_on_both_parsers(
    parser: type[Any], text: str, code: str, line: int, column: int
) -> None:
    with pytest.raises(LoadError) as caught:
        _parse_yaml(text, parser)
    d = caught.value.diagnostic
    assert (d.code, d.position) == (code, specgen.load.Position(line, column)), d


@pytest.mark.parametrize("parser", [yaml.CSafeLoader, yaml.SafeLoader], ids=["libyaml", "pure"])
def test_yaml_1_2_core_scalars_on_both_parsers(parser: type[Any]) -> None:
    text = (
        "a: yes\nb: 1e-5\nc: '3'\nd: 0x1F\ne: ~\nf: =\ng: ! 7\nh: |\n  block\n"
        "i: [1, é, 2.5]\nj: {k: null}\n"
    )
    document: Document = _parse_yaml(text, parser)
    assert document.data == {
        "a": "yes",
        "b": 1e-5,
        "c": "3",
        "d": 31,
        "e": None,
        "f": "=",
        "g": "7",
        "h": "block\n",
        "i": [1, "é", 2.5],
        "j": {"k": None},
    }
    assert document.positions[("i", 2)] == specgen.load.Position(10, 11)
    assert document.key_positions[("j", "k")] == specgen.load.Position(11, 5)


JSON_FILES = sorted(
    p
    for folder in (
        "specs",
        "tests/cases",
        "tests/cases_pytorch_only",
        "tests/hostile",
        "tests/invalid",
    )
    for p in (ROOT / folder).rglob("*.json")
    if p.stat().st_size <= SMALL
)


def _json_outcome(text: str, fast: bool, max_values: int = MAX_NODES) -> tuple[Any, ...]:
    try:
        document = _parse_json(text, max_values) if fast else _JsonParser(text, max_values).parse()
    except LoadError as error:
        d = error.diagnostic
        return ("error", d.code, d.position, d.json_path)
    return ("ok", document.data, dict(document.positions), dict(document.key_positions))


def _variants(text: str) -> list[str]:
    """The file and damaged copies of it: truncated, a duplicate key, NaN, a long number,
    a lone surrogate, deep nesting, a control character, trailing garbage."""
    return [
        text,
        text[: len(text) // 2],
        text.replace('"name"', '"name": "x", "name"', 1),
        text.replace("1", "NaN", 1),
        text.replace("1", "1" * 120, 1),
        text.replace("1", "1e999", 1),
        text.replace('"', '"\\ud800', 1),
        text.replace('"', '"\\ud83d\\ude00', 1),
        "[" * 70 + "]" * 70,
        text.replace('"', '"\t', 1),
        text + " x",
        text.replace(
            ":", ": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1", 1
        ),
    ]


def test_json_corpus_is_collected() -> None:
    assert len(JSON_FILES) >= 5


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_and_exact_json_agree(path: Path) -> None:
    for text in _variants(_decode(path.read_bytes())):
        assert _json_outcome(text, fast=True) == _json_outcome(text, fast=False)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_and_exact_json_agree_on_the_value_cap(path: Path) -> None:
    """The fast path counts values without a second parse (lists of scalars at once) and
    must refuse at the same value as the exact parser, wherever the cap falls."""
    text = _decode(path.read_bytes())
    for cap in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144):
        assert _json_outcome(text, True, cap) == _json_outcome(text, False, cap), cap


def _count_position_work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count runs of the position-keeping parser and of the whole-file index."""
    runs = {"parser": 0, "index": 0}
    parse, index = _JsonParser.parse, specgen.load._index

    def counting_parse(self: _JsonParser) -> Document:
        runs["parser"] += 1
        return parse(self)

    def counting_index(text: str) -> Any:
        runs["index"] += 1
        return index(text)

    monkeypatch.setattr(_JsonParser, "parse", counting_parse)
    monkeypatch.setattr(specgen.load, "_index", counting_index)
    return runs


def test_fast_json_computes_no_position_until_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid JSON spec is checked without any position being computed; a few findings
    walk down their own paths (`_walk`); past `LazyJsonPositions.WALKS` questions the file
    is indexed once. Never the position-keeping parser, and the same positions."""
    runs = _count_position_work(monkeypatch)
    result = check_file(ROOT / "specs" / "alexnet.json")
    assert result.graph is not None and not result.report.diagnostics
    assert runs == {"parser": 0, "index": 0}
    bad = ROOT / "tests" / "invalid" / "nonpositive_values.json"
    walked = [(d.code, d.position) for d in check_file(bad).report.diagnostics]
    assert walked and all(position is not None for _, position in walked)
    assert runs == {"parser": 0, "index": 0}
    monkeypatch.setattr(LazyJsonPositions, "WALKS", 0)
    assert [(d.code, d.position) for d in check_file(bad).report.diagnostics] == walked
    assert runs["parser"] == 0 and runs["index"] >= 1


def test_many_findings_index_the_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of findings cost one index of the file (shared by values and keys), not
    a walk or a parse each."""
    runs = _count_position_work(monkeypatch)
    result = check_file(ROOT / "tests" / "hostile" / "broken_references.json")
    assert len(result.report.diagnostics) > 1000
    assert runs["parser"] == 0 and runs["index"] == 1  # one index, for values and keys


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_index_holds_what_the_exact_parser_records(path: Path) -> None:
    """`_index` (every position at once, for files with many findings) records the same
    offsets for every value and key as the position-keeping parser."""
    texts = [_decode(path.read_bytes())]
    texts += [
        "1",
        " [] ",
        "{}",
        '[[],{}, [1,[2]], {"a": {}, "b": [ ]}]',
        '{"x" : 1 , "y":[ 1 ,2 ]}',
    ]
    for text in texts:
        try:
            _fast_json(text, MAX_NODES)
        except Exception:
            continue
        exact = _JsonParser(text).parse()
        values, keys = _index(text)
        assert values == exact.positions.offsets  # type: ignore[attr-defined]
        assert keys == exact.key_positions.offsets  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_walking_finds_what_the_exact_parser_finds(path: Path) -> None:
    """Every value and key position the position-keeping parser records, and nothing for
    paths that do not exist, from a fresh walk each (no full parse behind it)."""
    text = _decode(path.read_bytes())
    try:
        _fast_json(text, MAX_NODES)
    except Exception:
        return
    exact = _JsonParser(text).parse()
    for keys, recorded in ((False, exact.positions), (True, exact.key_positions)):
        for json_path, position in recorded.items():
            walker = LazyJsonPositions(text, keys=keys)
            assert walker.get(json_path) == position, json_path
        for missing in [
            ("nope",),
            ("layers", 10**6),
            ("layers", "x"),
            ("input", 0),
            ("layers", -1),
        ]:
            if missing not in recorded:
                assert LazyJsonPositions(text, keys=keys).get(missing) is None
