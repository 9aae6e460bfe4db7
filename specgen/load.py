"""Hardened reading of spec files: bytes -> plain values, with a position for every value.

JSON goes through a small parser of our own, because the standard library keeps no
positions and silently accepts duplicate keys and NaN. YAML is read in one pass over the
parser's event stream (libyaml's where PyYAML has it, else PyYAML's own; no composer, no
object construction, no recursion), with the YAML 1.2 core schema: ``yes``/``on`` are
strings, ``1e-5`` is a float, anchors, aliases and tags are refused. Every problem comes
back as a `Diagnostic`, never as an exception.
"""

from __future__ import annotations

import json
import json.scanner
import math
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from specgen.diagnostics import Diagnostic, JsonPath, Position
from specgen.limits import DEFAULT_LIMITS, Limits

MAX_FILE_BYTES = DEFAULT_LIMITS.bytes  # defaults; `--limit bytes=N` / `values=N` move them
MAX_DEPTH = 64
MAX_NODES = DEFAULT_LIMITS.values
MAX_NUMBER_CHARS = 100

VALUES_HINT = "split it, or raise the limit: --limit values=N"

SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


class OffsetPositions(Mapping[JsonPath, Position]):
    """Positions kept as character offsets and turned into (line, column) only when asked:
    most values of a valid file are never reported, so most never need their line."""

    def __init__(self, text: str) -> None:
        self.offsets: dict[JsonPath, int] = {}
        self._text = text
        self._line_starts: list[int] | None = None

    def position(self, offset: int) -> Position:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self._text)]
        line = bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)

    def __getitem__(self, path: JsonPath) -> Position:
        return self.position(self.offsets[path])

    def __iter__(self) -> Iterator[JsonPath]:
        return iter(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets)

    def __contains__(self, path: object) -> bool:
        return path in self.offsets


@dataclass(slots=True)
class Document:
    """A parsed spec file: plain data plus where each value and key came from."""

    data: Any
    raw: bytes = b""
    positions: Mapping[JsonPath, Position] = field(default_factory=dict)
    key_positions: Mapping[JsonPath, Position] = field(default_factory=dict)

    def locate(self, path: JsonPath, *, key: bool = False) -> Position | None:
        """Position of the value at `path` (of its key, with `key`), else its nearest parent."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None


class LoadError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        position: Position | None,
        hint: str | None = None,
        json_path: JsonPath = (),
    ):
        super().__init__(message)
        self.diagnostic = Diagnostic(
            code, message, hint=hint, position=position, json_path=json_path
        )


def load_document(
    path: Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[Document | None, Diagnostic | None]:
    """Read and parse one file. I/O errors propagate (OSError); the CLI calls them usage errors."""
    with path.open("rb") as handle:
        raw = handle.read(limits.bytes + 1)
    return parse_bytes(raw, SUFFIXES.get(path.suffix.lower(), "yaml"), limits)


def parse_bytes(
    raw: bytes, syntax: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[Document | None, Diagnostic | None]:
    try:
        if len(raw) > limits.bytes:
            raise LoadError(
                "SG005",
                f"file is larger than {limits.bytes} bytes",
                None,
                hint="split it, or raise the limit: --limit bytes=N",
            )
        text = _decode(raw)
        document = (
            _parse_json(text, limits.values)
            if syntax == "json"
            else _parse_yaml(text, max_values=limits.values)
        )
        document.raw = raw
        if not isinstance(document.data, dict):
            raise LoadError(
                "SG006",
                "the top level must be a mapping with 'specgen', 'name', 'input' and 'layers'",
                document.locate(()) or Position(1, 1),
            )
        return document, None
    except LoadError as error:
        return None, error.diagnostic


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        # Columns count characters, as everywhere else; the prefix is valid UTF-8.
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8")) + 1
        raise LoadError(
            "SG007", f"invalid UTF-8 byte 0x{raw[error.start]:02x}", Position(line, column)
        ) from None


# --- JSON --------------------------------------------------------------------------------

_STRING_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WS = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _scan_string(text: str, opening: int) -> tuple[str, int] | None:
    """The string opening at `opening` and the offset after it, by the C scanner, when it
    is valid (no control character, bad escape or lone surrogate); None otherwise, and the
    exact loop then finds and places the problem."""
    try:
        value, end = json.decoder.scanstring(text, opening + 1, True)  # type: ignore[attr-defined]
    except ValueError:
        return None
    if _SURROGATE.search(value):
        return None
    return value, end


class _JsonParser:
    def __init__(self, text: str, max_values: int = MAX_NODES) -> None:
        self.text = text
        self.i = 0
        self.nodes = 0
        self.max_values = max_values
        self.positions = OffsetPositions(text)
        self.key_positions = OffsetPositions(text)
        self.doc = Document(None, positions=self.positions, key_positions=self.key_positions)
        self.position = self.positions.position

    def fail(
        self, message: str, offset: int | None = None, code: str = "SG001", path: JsonPath = ()
    ) -> LoadError:
        at = self.position(self.i if offset is None else offset)
        return LoadError(code, message, at, json_path=path)

    def skip_ws(self) -> None:
        text, i = self.text, self.i
        while i < len(text) and text[i] in _WS:
            i += 1
        self.i = i

    def describe_here(self) -> str:
        if self.i >= len(self.text):
            return "end of file"
        return repr(self.text[self.i])

    def parse(self) -> Document:
        self.skip_ws()
        if self.i >= len(self.text):
            raise LoadError("SG006", "the file is empty", Position(1, 1))
        self.doc.data = self.value((), 0)
        self.skip_ws()
        if self.i < len(self.text):
            raise self.fail(f"unexpected {self.describe_here()} after the end of the document")
        return self.doc

    def value(self, path: JsonPath, depth: int) -> Any:
        self.skip_ws()
        problem = _limit_problem(depth, self.nodes + 1, self.max_values)
        if problem is not None:
            raise LoadError(*problem[:2], self.position(self.i), hint=problem[2])
        self.nodes += 1
        self.positions.offsets[path] = self.i
        if self.i >= len(self.text):
            raise self.fail("unexpected end of file: expected a value")
        char = self.text[self.i]
        if char == "{":
            return self.obj(path, depth)
        if char == "[":
            return self.array(path, depth)
        if char == '"':
            return self.string()
        for word, result in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return result
        for word in ("NaN", "Infinity", "-Infinity"):
            if self.text.startswith(word, self.i):
                raise self.fail(f"{word} is not a valid number in a spec", code="SG003", path=path)
        return self.number(path)

    def number(self, path: JsonPath) -> int | float:
        match = _NUMBER.match(self.text, self.i)
        if not match or match.end() == self.i:
            raise self.fail(f"unexpected {self.describe_here()}: expected a value")
        literal = match.group(0)
        if len(literal) > MAX_NUMBER_CHARS:
            raise self.fail(f"number literal longer than {MAX_NUMBER_CHARS} characters")
        start, self.i = self.i, match.end()
        if match.group(1) is None and match.group(2) is None:
            return int(literal)
        result = float(literal)
        if math.isinf(result):
            raise self.fail(f"number {literal} overflows a float", start, code="SG003", path=path)
        return result

    def string(self) -> str:
        text = self.text
        opening = self.i
        self.i += 1
        parts: list[str] = []
        while True:
            # Everything up to the next quote, backslash or control character, at C speed.
            end = _STRING_CHUNK.match(text, self.i).end()  # type: ignore[union-attr]
            parts.append(text[self.i : end])
            self.i = end
            if end >= len(text):
                raise self.fail("unterminated string", opening)
            char = text[end]
            if char == '"':
                self.i += 1
                return parts[0] if len(parts) == 1 else "".join(parts)
            if char == "\\":
                if len(parts) == 1:  # the first escape: the C scanner may take the rest
                    fast = _scan_string(text, opening)
                    if fast is not None:
                        value, self.i = fast
                        return value
                parts.append(self.escape())
                continue
            raise self.fail("control character in string: escape it")

    def escape(self) -> str:
        esc = self.text[self.i + 1 : self.i + 2]
        if esc in _ESCAPES:
            self.i += 2
            return _ESCAPES[esc]
        if esc == "u":
            code = self.hex4(self.i + 2)
            self.i += 6
            if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.i):
                low = self.hex4(self.i + 2)
                if 0xDC00 <= low < 0xE000:
                    self.i += 6
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
            if 0xD800 <= code < 0xE000:
                raise self.fail("lone surrogate in \\u escape", self.i - 6)
            return chr(code)
        raise self.fail(f"invalid escape \\{esc}")

    def hex4(self, at: int) -> int:
        digits = self.text[at : at + 4]
        if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("invalid \\u escape", at - 2)
        return int(digits, 16)

    def obj(self, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.i += 1
        self.skip_ws()
        if self.text.startswith("}", self.i):
            self.i += 1
            return result
        while True:
            self.skip_ws()
            key_at = self.i
            if not self.text.startswith('"', self.i):
                raise self.fail(f"unexpected {self.describe_here()}: expected a key in quotes")
            key = self.string()
            if key in result:
                first = self.key_positions[(*path, key)]
                raise LoadError(
                    "SG002",
                    f"duplicate key {key!r} (first at line {first.line}, column {first.column})",
                    self.position(key_at),
                    json_path=(*path, key),
                )
            self.key_positions.offsets[(*path, key)] = key_at
            self.skip_ws()
            if not self.text.startswith(":", self.i):
                raise self.fail(f"unexpected {self.describe_here()}: expected ':'")
            self.i += 1
            result[key] = self.value((*path, key), depth + 1)
            self.skip_ws()
            if self.text.startswith(",", self.i):
                self.i += 1
                self.skip_ws()
                if self.text.startswith("}", self.i):
                    raise self.fail("trailing comma before '}'")
                continue
            if self.text.startswith("}", self.i):
                self.i += 1
                return result
            raise self.fail(f"unexpected {self.describe_here()}: expected ',' or '}}'")

    def array(self, path: JsonPath, depth: int) -> list[Any]:
        result: list[Any] = []
        self.i += 1
        self.skip_ws()
        if self.text.startswith("]", self.i):
            self.i += 1
            return result
        while True:
            result.append(self.value((*path, len(result)), depth + 1))
            self.skip_ws()
            if self.text.startswith(",", self.i):
                self.i += 1
                self.skip_ws()
                if self.text.startswith("]", self.i):
                    raise self.fail("trailing comma before ']'")
                continue
            if self.text.startswith("]", self.i):
                self.i += 1
                return result
            raise self.fail(f"unexpected {self.describe_here()}: expected ',' or ']'")


class _Doubt(Exception):
    """The fast JSON path cannot vouch for the text: the exact parser decides."""


class _JsonText:
    """One JSON text the fast path read: its line starts, and the offsets of every value
    and key (`_index`), computed once when first needed and shared by the value and key
    positions of the document."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = OffsetPositions(text)  # only its line starts are used
        self._offsets: tuple[dict[JsonPath, int], dict[JsonPath, int]] | None = None

    def offsets(self, keys: bool) -> dict[JsonPath, int]:
        if self._offsets is None:
            self._offsets = _index(self.text)
        return self._offsets[1] if keys else self._offsets[0]


class LazyJsonPositions(Mapping[JsonPath, Position]):
    """The value (or key) positions of a JSON file the fast path read, found only when
    asked for. A valid file read for `validate` usually never asks.

    The first few questions are answered by walking down the path with the C parser
    skipping every value beside it (`_walk`: linear, at C speed); a file that asks for
    more (many findings) is indexed once (`_index`, shared with the other mapping), so
    many questions never cost a walk each."""

    WALKS = 8  # questions answered by walking before the whole file is indexed

    def __init__(self, source: _JsonText | str, *, keys: bool) -> None:
        self._source = source if isinstance(source, _JsonText) else _JsonText(source)
        self._keys = keys
        self._offsets: dict[JsonPath, int] | None = None
        self._walked: dict[JsonPath, Position | None] = {}

    def _all(self) -> dict[JsonPath, int]:
        if self._offsets is None:
            self._offsets = self._source.offsets(self._keys)
        return self._offsets

    def _lookup(self, path: JsonPath) -> Position | None:
        if self._offsets is None:
            if path in self._walked:
                return self._walked[path]
            if len(self._walked) < self.WALKS:
                found = _walk(self._source.text, path)
                offset = None if found is None else found[1] if self._keys else found[0]
                self._walked[path] = None if offset is None else self._position(offset)
                return self._walked[path]
        offset = self._all().get(path)
        return None if offset is None else self._position(offset)

    def _position(self, offset: int) -> Position:
        return self._source.lines.position(offset)

    def __getitem__(self, path: JsonPath) -> Position:
        found = self._lookup(path)
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self) -> Iterator[JsonPath]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and self._lookup(path) is not None


_SKIP = json.JSONDecoder()
_SCAN = json.scanner.make_scanner(_SKIP)  # type: ignore[arg-type]  # C: (value, end) at i
_JSON_WS = re.compile(r"[ \t\n\r]*")


def _index(text: str) -> tuple[dict[JsonPath, int], dict[JsonPath, int]]:
    """The offset of every value and key in valid JSON `text` (one the fast path read),
    as the position-keeping parser records them, with scalars skipped by the C scanner."""
    values: dict[JsonPath, int] = {}
    keys: dict[JsonPath, int] = {}
    stack: list[tuple[JsonPath, bool]] = []  # open containers: (path, is a mapping)
    counts: list[int] = []  # items so far in each open container

    def ws(i: int) -> int:
        match = _JSON_WS.match(text, i)
        assert match is not None
        return match.end()

    def key_at(i: int, parent: JsonPath) -> tuple[JsonPath, int]:
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        path = (*parent, key)
        return path, ws(ws(i) + 1)  # past the ':'

    path: JsonPath = ()
    i = ws(0)
    while True:
        values[path] = i
        char = text[i]
        if char in "{[" and text[ws(i + 1)] not in "}]":
            i = ws(i + 1)
            stack.append((path, char == "{"))
            counts.append(0)
            if char == "{":
                start = i
                path, i = key_at(i, path)
                keys[path] = start
            else:
                path = (*path, 0)
            continue
        i = ws(i + 1) + 1 if char in "{[" else _SCAN(text, i)[1]  # an empty one, a scalar
        while True:  # after a value: the next item, or close containers
            i = ws(i)
            if not stack:
                return values, keys
            parent, mapping = stack[-1]
            if text[i] == ",":
                i = ws(i + 1)
                counts[-1] += 1
                if mapping:
                    start = i
                    path, i = key_at(i, parent)
                    keys[path] = start
                else:
                    path = (*parent, counts[-1])
                break
            i += 1  # '}' or ']'
            stack.pop()
            counts.pop()


def _walk(text: str, path: JsonPath) -> tuple[int, int | None] | None:
    """The offsets of the value at `path` in valid JSON `text` (one the fast path read:
    no duplicate keys) and of its key (None for an array element or the root), or None
    where the path does not exist. Values beside the path are skipped by the C parser."""

    def ws(i: int) -> int:
        match = _JSON_WS.match(text, i)
        assert match is not None
        return match.end()

    i, key_at = ws(0), None
    for part in path:
        if i >= len(text):
            return None
        if text[i] == "{" and isinstance(part, str):
            i = ws(i + 1)
            while text[i] == '"':
                key_start = i
                key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                i = ws(ws(i) + 1)  # the ':'
                if key == part:
                    key_at = key_start
                    break
                i = ws(_SKIP.raw_decode(text, i)[1])
                if text[i] != ",":
                    return None
                i = ws(i + 1)
            else:
                return None
        elif text[i] == "[" and isinstance(part, int) and part >= 0:
            i = ws(i + 1)
            if text[i] == "]":
                return None
            for _ in range(part):
                i = _SCAN(text, i)[1]
                if text[i] != ",":
                    i = ws(i)
                    if text[i] != ",":
                        return None
                i += 1
                if text[i] in " \t\n\r":
                    i = ws(i)
            key_at = None
        else:
            return None
    return i, key_at


def _parse_json(text: str, max_values: int = MAX_NODES) -> Document:
    """The standard library's C parser, with hooks that refuse what a spec may not hold,
    when it can vouch for the text; the exact, position-keeping parser otherwise (which
    then reports the problem where it is). Both give the same values for any text the
    fast path accepts; positions are found when first needed (`LazyJsonPositions`)."""
    try:
        data = _fast_json(text, max_values)
    except (_Doubt, ValueError, RecursionError):
        return _JsonParser(text, max_values).parse()
    source = _JsonText(text)
    return Document(
        data,
        positions=LazyJsonPositions(source, keys=False),
        key_positions=LazyJsonPositions(source, keys=True),
    )


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Doubt("duplicate key")
    return result


def _refuse_constant(name: str) -> Any:
    raise _Doubt(name)


# A number literal over the cap (or a string holding such a run of characters: the exact
# parser then decides). Ints are parsed by the C parser itself, without a hook per value.
_LONG_NUMBER = re.compile(f"[-+.0-9eE]{{{MAX_NUMBER_CHARS + 1},}}")


def _checked_float(literal: str) -> float:
    value = float(literal)
    if len(literal) > MAX_NUMBER_CHARS or math.isinf(value):
        raise _Doubt("number")
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _limit_problem(depth: int, count: int, max_values: int) -> tuple[str, str, str | None] | None:
    """SG005 for the `count`-th value of a file, at `depth`: (code, message, hint)."""
    if depth > MAX_DEPTH:
        return "SG005", f"nesting deeper than {MAX_DEPTH} levels", None
    if count > max_values:
        return "SG005", f"more than {max_values} values", VALUES_HINT
    return None


_CONTAINERS = {dict, list}


def _check_limits(data: Any, text: str, max_values: int) -> None:
    """The exact parser's depth and value-count rules on what the fast path read, in
    document order, raised at the same place: the first value past a limit (found by
    `_walk`, with no second parse of the file)."""
    count = 1
    frames: list[Iterator[tuple[str | int, Any]]] = []
    keys: list[str | int] = []  # the path to the innermost open container
    if isinstance(data, dict | list) and data:
        frames.append(iter(data.items()) if isinstance(data, dict) else enumerate(data))
    while frames:
        item = next(frames[-1], None)
        if item is None:
            frames.pop()
            if keys:
                keys.pop()
            continue
        count += 1
        key, value = item
        if len(frames) > MAX_DEPTH or count > max_values:
            problem = _limit_problem(len(frames), count, max_values)
            assert problem is not None
            found = _walk(text, (*keys, key))
            assert found is not None
            position = OffsetPositions(text).position(found[0])
            raise LoadError(*problem[:2], position, hint=problem[2])
        if isinstance(value, list) and value and not _CONTAINERS & set(map(type, value)):
            # A list of scalars (the bulk of a big file) is counted at once.
            if len(frames) + 1 > MAX_DEPTH or count + len(value) > max_values:
                index = 0 if len(frames) + 1 > MAX_DEPTH else max_values - count
                frames.append(enumerate(value[index:], index))
                keys.append(key)
                count += index
                continue
            count += len(value)
        elif isinstance(value, dict | list) and value:
            frames.append(iter(value.items()) if isinstance(value, dict) else enumerate(value))
            keys.append(key)


def _fast_json(text: str, max_values: int) -> Any:
    if _LONG_NUMBER.search(text):
        raise _Doubt("a long number")
    if _SURROGATE_ESCAPE.search(text):
        raise _Doubt("\\u escape of a surrogate")  # the exact parser checks the pairs
    data = json.loads(
        text,
        object_pairs_hook=_pairs,
        parse_constant=_refuse_constant,
        parse_float=_checked_float,
    )
    _check_limits(data, text, max_values)
    return data


# --- YAML --------------------------------------------------------------------------------

# YAML 1.2 core schema (plain scalars only; quoted scalars are always strings).
_Y_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_Y_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
_Y_BOOL["FALSE"] = False
_Y_INT = re.compile(r"[-+]?[0-9]+\Z")
_Y_INT_OCT_HEX = re.compile(r"0o[0-7]+\Z|0x[0-9a-fA-F]+\Z")
_Y_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_Y_SPECIAL = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")
# libyaml's parser when PyYAML was built with it (the wheels are); the pure-Python one
# otherwise. Both produce the same events, so the rest of the loader cannot tell.
YAML_PARSER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_error_position(error: yaml.YAMLError, text: str) -> Position | None:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        return _position(error.problem_mark)
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        return Position(before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1)
    return None


def _codepoint(character: int | str) -> int:
    return character if isinstance(character, int) else ord(character[:1] or "\0")


def _position(mark: Any) -> Position:
    """PyYAML's 0-based mark as a 1-based position."""
    return Position(mark.line + 1, mark.column + 1)


def _parse_yaml(
    text: str, parser: type[Any] | None = None, *, max_values: int = MAX_NODES
) -> Document:
    """One pass over the parser's event stream: values and positions are built as the
    events arrive, with every rule checked on the way (no second parse, no recursion)."""
    loader_class = parser or YAML_PARSER
    loader = loader_class(text)
    try:
        return _YamlBuilder(max_values).build(loader)
    except yaml.MarkedYAMLError as error:
        problem = error.problem or "invalid YAML"
        if "maximum nesting depth" in problem and loader_class is not yaml.SafeLoader:
            # libyaml's own cap (1,000 levels), hit while it scans ahead of our count: the
            # pure-Python parser stops at our cap, so the finding points at level 65.
            return _parse_yaml(text, yaml.SafeLoader, max_values=max_values)
        if "maximum nesting depth" in problem:
            raise LoadError(
                "SG005",
                f"nesting deeper than {MAX_DEPTH} levels",
                _yaml_error_position(error, text),
            ) from None
        raise LoadError(
            "SG001", f"YAML syntax error: {problem}", _yaml_error_position(error, text)
        ) from None
    except yaml.reader.ReaderError as error:
        raise LoadError(
            "SG001",
            f"YAML cannot contain the character U+{_codepoint(error.character):04X}",
            _yaml_error_position(error, text),
        ) from None
    except yaml.YAMLError as error:
        raise LoadError("SG001", f"YAML error: {error}", None) from None
    finally:
        loader.dispose()


class _YamlBuilder:
    """Turns YAML events into plain values. Refuses anchors, aliases, explicit tags,
    non-string keys, duplicate keys, several documents, and documents past the depth or
    value caps, each at the event where it shows."""

    def __init__(self, max_values: int = MAX_NODES) -> None:
        self.positions: dict[JsonPath, Position] = {}
        self.key_positions: dict[JsonPath, Position] = {}
        self.doc = Document(None, positions=self.positions, key_positions=self.key_positions)
        self.nodes = 0
        self.max_values = max_values
        # Open collections: (the container, its path, for a mapping the pending key).
        self.stack: list[tuple[dict[str, Any] | list[Any], JsonPath]] = []
        self.keys: list[str | None] = []
        self.documents = 0
        self.root: Any = None

    def build(self, loader: Any) -> Document:
        get_event = loader.get_event
        while True:
            event = get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self.scalar(event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self.start(event, {} if kind is yaml.MappingStartEvent else [])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self.stack.pop()
                self.keys.pop()
            elif kind is yaml.AliasEvent:
                raise self.anchors(event)
            elif kind is yaml.DocumentStartEvent:
                if self.documents:
                    raise LoadError(
                        "SG004",
                        "a spec file holds exactly one YAML document",
                        _position(event.start_mark),
                    )
            elif kind is yaml.DocumentEndEvent:
                self.documents += 1
            elif kind is yaml.StreamEndEvent:
                break
        if not self.documents:
            raise LoadError("SG006", "the file is empty", Position(1, 1))
        self.doc.data = self.root
        return self.doc

    def anchors(self, event: Any) -> LoadError:
        return LoadError(
            "SG004",
            "YAML anchors and aliases are not supported in specs",
            _position(event.start_mark),
            hint="write the values out; reusable blocks come as a spec feature",
        )

    def check_node(self, event: Any) -> Position:
        at = _position(event.start_mark)
        if event.anchor is not None:
            raise self.anchors(event)
        if event.tag not in (None, "!"):
            raise LoadError("SG004", f"YAML tag {event.tag!r} is not supported in specs", at)
        return at

    def place(self, event: Any) -> JsonPath | None:
        """The path of the value `event` starts, or None when it is a mapping key."""
        if not self.stack:
            return ()
        container, path = self.stack[-1]
        if isinstance(container, list):
            return (*path, len(container))
        key = self.keys[-1]
        if key is None:
            return None
        return (*path, key)

    def count(self, path: JsonPath, at: Position) -> None:
        if len(self.stack) > MAX_DEPTH:
            raise LoadError("SG005", f"nesting deeper than {MAX_DEPTH} levels", at)
        self.nodes += 1
        if self.nodes > self.max_values:
            raise LoadError("SG005", f"more than {self.max_values} values", at, hint=VALUES_HINT)
        self.positions[path] = at

    def attach(self, path: JsonPath, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        container, _ = self.stack[-1]
        if isinstance(container, list):
            container.append(value)
            return
        key = self.keys[-1]
        assert key is not None
        container[key] = value
        self.keys[-1] = None

    def start(self, event: Any, container: dict[str, Any] | list[Any]) -> None:
        at = self.check_node(event)
        path = self.place(event)
        if path is None:
            raise LoadError("SG004", "mapping keys must be plain strings", at)
        self.count(path, at)
        self.attach(path, container)
        self.stack.append((container, path))
        self.keys.append(None)

    def scalar(self, event: Any) -> None:
        # The one event every value of a spec goes through: `check_node`, `place`,
        # `count` and `attach` written out in line (a third of reading a YAML file).
        mark = event.start_mark
        at = Position(mark.line + 1, mark.column + 1)
        if event.anchor is not None:
            raise self.anchors(event)
        tag = event.tag
        if tag is not None and tag != "!":
            raise LoadError("SG004", f"YAML tag {tag!r} is not supported in specs", at)
        quoted = bool(event.style) or tag == "!"  # quoted, block or '!': a string
        stack = self.stack
        key: str | None = None
        if not stack:
            container: dict[str, Any] | list[Any] | None = None
            path: JsonPath = ()
        else:
            container, parent = stack[-1]
            if isinstance(container, list):
                path = (*parent, len(container))
            else:
                key = self.keys[-1]
                if key is None:  # a mapping key
                    self.key(event.value, quoted, at)
                    return
                path = (*parent, key)
        if len(stack) > MAX_DEPTH:
            raise LoadError("SG005", f"nesting deeper than {MAX_DEPTH} levels", at)
        self.nodes += 1
        if self.nodes > self.max_values:
            raise LoadError("SG005", f"more than {self.max_values} values", at, hint=VALUES_HINT)
        self.positions[path] = at
        value = event.value if quoted else _plain_scalar(event.value, at, path)
        if container is None:
            self.root = value
        elif isinstance(container, list):
            container.append(value)
        else:
            assert key is not None  # set above: a mapping's value follows its key
            container[key] = value
            self.keys[-1] = None

    def key(self, key: str, quoted: bool, at: Position) -> None:
        if not quoted and _plain_scalar(key, at) != key:
            raise LoadError("SG004", f"mapping key {key!r} is not a string", at)
        container, path = self.stack[-1]
        assert isinstance(container, dict)
        if key in container:
            first = self.key_positions[(*path, key)]
            raise LoadError(
                "SG002",
                f"duplicate key {key!r} (first at line {first.line}, column {first.column})",
                at,
                json_path=(*path, key),
            )
        self.key_positions[(*path, key)] = at
        self.keys[-1] = key


# First characters after which a plain scalar can only be a string (no null, bool,
# number or special float starts with one).
_ONLY_STRING = frozenset(map(chr, range(128))) - set("0123456789+-.~nNtTfF")


def _plain_scalar(value: str, position: Position, path: JsonPath = ()) -> Any:
    if value[:1] in _ONLY_STRING:
        return value
    if value.isdigit() and value.isascii() and len(value) <= MAX_NUMBER_CHARS:
        return int(value)
    if _Y_NULL.match(value):
        return None
    if value in _Y_BOOL:
        return _Y_BOOL[value]
    numeric = _Y_FLOAT.match(value) or _Y_INT_OCT_HEX.match(value)
    if len(value) > MAX_NUMBER_CHARS and numeric:
        raise LoadError(
            "SG001", f"number literal longer than {MAX_NUMBER_CHARS} characters", position
        )
    if _Y_INT.match(value):
        return int(value)
    if _Y_INT_OCT_HEX.match(value):
        return int(value, 0)
    if _Y_SPECIAL.match(value):
        raise LoadError(
            "SG003", f"{value} is not a valid number in a spec", position, json_path=path
        )
    if _Y_FLOAT.match(value):
        result = float(value)
        if math.isinf(result):
            raise LoadError("SG003", f"number {value} overflows a float", position, json_path=path)
        return result
    return value
