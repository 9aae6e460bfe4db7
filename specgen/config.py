"""The project config: `specgen.toml`, or `[tool.specgen]` in `pyproject.toml`.

    strict = true                 # validate fails on warnings too
    allow = ["SG302"]             # warnings acknowledged in every file (SPEC.md section 6)

    [limits]                      # resource limits (specgen/limits.py), as --limit NAME=VALUE
    layers = 20000

    [[emit]]                      # the emit map: `specgen emit --all [--check]`
    spec = "specs/*.yaml"         # a glob, relative to the config's folder
    target = "keras"
    out = "models/{stem}_keras.py"   # {stem}: the spec's file name without its suffix

(In `pyproject.toml` the tables are `[tool.specgen]`, `[tool.specgen.limits]` and
`[[tool.specgen.emit]]`.) The config is found by walking up from the working directory
to the first folder holding `specgen.toml`, or a `pyproject.toml` with a `[tool.specgen]`
table, no further than the repository's root; `specgen.toml` wins in the same folder, as
`ruff.toml` does over `pyproject.toml`.

The file is read with `tomllib` and checked as strictly as a spec, with the same codes and
located findings: an unknown key is SG102 with a did-you-mean, a wrong type SG103, a bad
value SG104. `tomllib` keeps no positions, so `_TomlKeys` finds each key's line by a scan
of the text (tables, arrays of tables, `key = value` lines, dotted keys); a value it cannot
place is reported at its table or key. A broken config is an error of the invocation,
not of any spec: the commands print its findings and exit 2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from specgen.diagnostics import CODES, WARNING_CODES, Diagnostic, JsonPath, Position, show_value
from specgen.limits import DEFAULT_LIMITS, MAX_LIMIT, Limits
from specgen.load import SUFFIXES
from specgen.suggest import Suggester

CONFIG_NAME = "specgen.toml"
PYPROJECT = "pyproject.toml"
TARGETS = ("keras", "pytorch")
OUT_FIELDS = ("stem", "target")  # the placeholders `out` may hold
SCHEMA_SUFFIX = ".schema.json"  # JSON Schemas beside the specs are never specs
MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; refuse to read a huge one

_TOP_KEYS = ("strict", "allow", "limits", "emit")
_EMIT_KEYS = ("spec", "target", "out")


@dataclass(frozen=True, slots=True)
class EmitRule:
    """One `[[emit]]` entry: the specs `spec` matches each emit `out` for `target`."""

    spec: str
    target: str
    out: str
    index: int  # its place in the file, for findings


@dataclass(frozen=True, slots=True)
class Mapped:
    """One generated file of the emit map: `out` is what `spec` emits for `target`."""

    spec: Path
    target: str
    out: Path
    rule: EmitRule


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # None: no config file, the defaults
    strict: bool = False
    allow: frozenset[str] = frozenset()
    limits: Limits = DEFAULT_LIMITS
    emit: tuple[EmitRule, ...] = ()
    prefix: JsonPath = ()  # ("tool", "specgen") in pyproject.toml
    keys: _TomlKeys | None = field(default=None, compare=False, repr=False)

    @property
    def root(self) -> Path:
        """The folder the emit map's paths are relative to: the config file's."""
        return self.path.parent if self.path is not None else Path.cwd()

    def finding(
        self, code: str, message: str, path: JsonPath, *, at_key: bool = False, **kwargs: Any
    ) -> Diagnostic:
        """A finding about the config, located at `path` (relative to its table): at the
        value, or with `at_key` at the key itself (an unknown key)."""
        full = (*self.prefix, *path)
        position = self.keys.position(full, at_key=at_key) if self.keys is not None else None
        return Diagnostic(
            code,
            message,
            json_path=full,
            position=position,
            file=relative(self.path) if self.path is not None else "",
            **kwargs,
        )

    def mapped(self) -> tuple[list[Mapped], list[Diagnostic]]:
        """Every generated file of the emit map, in rule order then spec order, and the
        findings about the map itself: a glob that matches no spec, two specs that write
        one file, a file outside the project. (That `out` names a .py file is checked
        with the config.)"""
        found: list[Mapped] = []
        problems: list[Diagnostic] = []
        writers: dict[Path, Mapped] = {}
        root = self.root
        real_root = root.resolve()
        for rule in self.emit:
            try:
                specs = spec_files(root, rule.spec)
            except (ValueError, IndexError, AttributeError, NotImplementedError, OSError) as err:
                problems.append(
                    self._map_problem(
                        rule,
                        "spec",
                        f"{rule.spec!r} is not a usable glob: {err or type(err).__name__}",
                        'e.g. spec = "specs/*.yaml" or "specs/**/*.yaml"',
                    )
                )
                continue
            if not specs:
                problems.append(
                    self._map_problem(
                        rule,
                        "spec",
                        f"{rule.spec!r} matches no spec file under {relative(root)}",
                        "fix the glob (relative to the config's folder), or remove the rule",
                    )
                )
            for spec in specs:
                name = rule.out.format(stem=spec.stem, target=rule.target)
                out = root / name
                outside = _outside(real_root, name, out)
                earlier = writers.get(out)
                if outside is not None:
                    problems.append(
                        self._map_problem(
                            rule,
                            "out",
                            f"{name!r} (for {relative(spec)!r}) {outside}; specgen writes "
                            "generated files only inside the project, outside hidden folders",
                        )
                    )
                elif earlier is not None:
                    problems.append(
                        self._map_problem(
                            rule,
                            "out",
                            f"{relative(out)!r} is written twice: from "
                            f"{relative(earlier.spec)!r} ({earlier.target}) and from "
                            f"{relative(spec)!r} ({rule.target})",
                            "put {stem} (and {target} for several targets) in 'out' so that "
                            "every spec gets its own file",
                        )
                    )
                else:
                    item = writers[out] = Mapped(spec, rule.target, out, rule)
                    found.append(item)
        return found, problems

    def _map_problem(
        self, rule: EmitRule, key: str, message: str, hint: str | None = None
    ) -> Diagnostic:
        """SG009 about one rule of the emit map, at its `key`."""
        return self.finding(
            "SG009", f"emit rule {rule.index + 1}: {message}", ("emit", rule.index, key), hint=hint
        )


DEFAULT_CONFIG = Config()


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)


def spec_files(folder: Path, pattern: str, *, skipped: frozenset[str] = frozenset()) -> list[Path]:
    """The spec files `pattern` matches below `folder`, sorted: `.json`, `.yaml` and
    `.yml` files, not JSON Schemas, nothing hidden and nothing under a `skipped` folder.
    What `validate FOLDER` checks and what the emit map maps. pathlib raises ValueError
    (and others) for some patterns only while matching ('**x', '.')."""
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in SUFFIXES
        and not p.name.endswith(SCHEMA_SUFFIX)
        and not any(part.startswith(".") or part in skipped for part in p.relative_to(folder).parts)
        and p.is_file()
    )


def _outside(real_root: Path, name: str, out: Path) -> str | None:
    """Why the filled-in output path `name` may not be written, or None. A spec's stem
    can be '..' (a file named '...yaml'), and a committed symlink can point anywhere:
    both are checked on the path itself, after {stem} is filled in."""
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts:
        return "leaves the project folder"
    if _hidden(Path(name)):
        return "is in a hidden folder or is a hidden file"
    try:
        real = out.resolve()
    except (OSError, RuntimeError) as error:
        return f"cannot be resolved ({error})"
    if not real.is_relative_to(real_root):
        return f"leads outside the project through a symlink (to {real})"
    return None


def relative(path: Path) -> str:
    """`path` as a compiler shows it: relative to the working directory (`../specs/a.yaml`
    from a subfolder of the project), absolute when that would climb more than two
    folders (or cross to another drive)."""
    try:
        shown = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    far = shown.startswith(os.path.join("..", "..", "..", ""))
    return str(path.resolve()) if far else shown


def find_config(start: Path | None = None) -> Path | None:
    """The config that applies in `start` (default: the working directory): the nearest
    folder upwards with one, stopping at the repository's root (a folder holding `.git`
    or `.hg`): a config outside the repository is not the project's."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
        if (folder / ".git").exists() or (folder / ".hg").exists():
            return None
    return None


# The spellings of `tool.specgen` (a pre-filter; the parse decides): `[tool.specgen]`,
# `tool."specgen"`, `tool.specgen.x = ...`, and a `specgen` key under `[tool]`. Each is
# linear: no pattern can cross a line.
_DOTTED_TOOL = re.compile(rb"tool[ \t]*\.[ \t]*[\"']?specgen\b")
_TOOL_HEADER = re.compile(rb"^[ \t]*\[[ \t]*[\"']?tool[\"']?[ \t]*\]", re.MULTILINE)
_SPECGEN_KEY = re.compile(rb"^[ \t]*[\"']?specgen[\"']?[ \t]*[.=]", re.MULTILINE)


def _has_tool_table(pyproject: Path) -> bool:
    """Whether this pyproject.toml configures specgen. Most never mention specgen, so that
    is tested first; one that does is parsed (every TOML spelling of the table counts:
    `[tool."specgen"]`, dotted keys, ...). One that does not parse counts if a line looks
    like the table's header, so that its syntax error is reported."""
    try:
        with pyproject.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return False
    if not (_DOTTED_TOOL.search(raw) or (_TOOL_HEADER.search(raw) and _SPECGEN_KEY.search(raw))):
        return False  # no spelling of the table: no TOML parse (tomllib costs 20 ms)
    import tomllib

    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return (
            re.search(r"^[ \t]*\[[ \t]*tool[ \t]*\.[ \t]*specgen", text, re.MULTILINE) is not None
        )
    tool = data.get("tool")
    return isinstance(tool, dict) and "specgen" in tool


def load_config(path: Path) -> tuple[Config, list[Diagnostic]]:
    """Read and check the config at `path`. With findings, the Config is the defaults'."""
    shown = relative(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        return DEFAULT_CONFIG, [
            Diagnostic("SG008", f"cannot read the project config: {error.strerror}", file=shown)
        ]
    if len(raw) > MAX_CONFIG_BYTES:
        return DEFAULT_CONFIG, [
            Diagnostic(
                "SG008", f"the project config is over {MAX_CONFIG_BYTES:,} bytes", file=shown
            )
        ]
    import tomllib  # only where a config exists: most runs never parse TOML

    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # an editor's byte-order mark
        data = tomllib.loads(text)
    except UnicodeDecodeError as error:
        return DEFAULT_CONFIG, [
            Diagnostic("SG008", f"the project config is not UTF-8: {error.reason}", file=shown)
        ]
    except tomllib.TOMLDecodeError as error:
        return DEFAULT_CONFIG, [_toml_error(error, shown)]
    except RecursionError:
        return DEFAULT_CONFIG, [
            Diagnostic("SG008", "the project config is nested too deeply to read", file=shown)
        ]
    prefix: JsonPath = ("tool", "specgen") if path.name == PYPROJECT else ()
    table: object = data
    for key in prefix:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    config = Config(path=path, prefix=prefix, keys=_TomlKeys(text))
    return _Checker(config).check(table)


def _toml_error(error: ValueError, shown: str) -> Diagnostic:
    # tomllib's message ends with "(at line L, column C)"; keep the text, move the place.
    message = str(error)
    position = None
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        position = Position(int(match.group(1)), int(match.group(2)))
        message = message[: match.start()]
    elif (end := re.search(r"\s*\(at end of document\)$", message)) is not None:
        message = message[: end.start()] + " at the end of the file"
    return Diagnostic(
        "SG008", f"the project config is not valid TOML: {message}", position=position, file=shown
    )


class _Checker:
    """Turns the parsed table into a Config, or collects what is wrong with it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.problems: list[Diagnostic] = []
        self.suggest = Suggester()

    def fail(
        self,
        code: str,
        message: str,
        path: JsonPath,
        hint: str | None = None,
        *,
        at_key: bool = False,
    ) -> None:
        self.problems.append(self.config.finding(code, message, path, hint=hint, at_key=at_key))

    def check(self, table: object) -> tuple[Config, list[Diagnostic]]:
        if not isinstance(table, dict):
            self.fail("SG103", f"expected a table, got {show_value(table)}", ())
            return DEFAULT_CONFIG, self.problems
        self.unknown_keys(table, _TOP_KEYS, ())
        strict = table.get("strict", False)
        if not isinstance(strict, bool):
            self.fail(
                "SG103", f"'strict': expected true or false, got {show_value(strict)}", ("strict",)
            )
            strict = False
        allow = self.allow(table.get("allow", []))
        limits = self.limits(table.get("limits", {}))
        emit = self.emit(table.get("emit", []))
        if self.problems:
            return DEFAULT_CONFIG, sorted(
                self.problems,
                key=lambda d: (d.position.line, d.position.column) if d.position else (0, 0),
            )
        return replace(self.config, strict=strict, allow=allow, limits=limits, emit=emit), []

    def unknown_keys(self, table: dict[str, Any], known: tuple[str, ...], path: JsonPath) -> None:
        for key in table:
            if key not in known:
                close = self.suggest.closest(key, known, len(known))
                self.fail(
                    "SG102",
                    f"unknown key {key!r} in the project config",
                    (*path, key),
                    at_key=True,
                    hint=f"did you mean {close!r}?"
                    if close
                    else "expected one of " + ", ".join(known),
                )

    def allow(self, value: object) -> frozenset[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(
                "SG103",
                f"'allow': expected a list of warning codes, got {show_value(value)}",
                ("allow",),
            )
            return frozenset()
        codes: set[str] = set()
        for index, code in enumerate(value):
            if isinstance(code, str) and code in WARNING_CODES:
                codes.add(code)
            elif isinstance(code, str) and code in CODES:
                self.fail(
                    "SG104",
                    f"'allow': {code!r} is an error; only warnings ("
                    + ", ".join(WARNING_CODES)
                    + ") can be allowed",
                    ("allow", index),
                    hint="an error must be fixed in the spec",
                )
            else:
                close = (
                    self.suggest.closest(code, WARNING_CODES, len(WARNING_CODES))
                    if isinstance(code, str)
                    else None
                )
                self.fail(
                    "SG104" if isinstance(code, str) else "SG103",
                    f"'allow': expected a warning code, got {show_value(code)}",
                    ("allow", index),
                    hint=f"did you mean {close!r}?"
                    if close
                    else "one of " + ", ".join(WARNING_CODES),
                )
        return frozenset(codes)

    def limits(self, value: object) -> Limits:
        if not isinstance(value, dict):
            self.fail("SG103", f"'limits': expected a table, got {show_value(value)}", ("limits",))
            return DEFAULT_LIMITS
        names = Limits.names()
        self.unknown_keys(value, names, ("limits",))
        changes: dict[str, int] = {}
        for name in names:
            if name not in value:
                continue
            number = value[name]
            if isinstance(number, bool) or not isinstance(number, int):
                self.fail(
                    "SG103",
                    f"'limits.{name}': expected a whole number, got {show_value(number)}",
                    ("limits", name),
                )
            elif not 1 <= number <= MAX_LIMIT:
                self.fail(
                    "SG104",
                    f"'limits.{name}': expected a number from 1 to {MAX_LIMIT:,}, got {number}",
                    ("limits", name),
                )
            else:
                changes[name] = number
        return replace(DEFAULT_LIMITS, **changes)

    def emit(self, value: object) -> tuple[EmitRule, ...]:
        if not isinstance(value, list):
            self.fail(
                "SG103",
                f"'emit': expected an array of tables ([[emit]]), got {show_value(value)}",
                ("emit",),
            )
            return ()
        rules = []
        for index, entry in enumerate(value):
            path: JsonPath = ("emit", index)
            if not isinstance(entry, dict):
                self.fail("SG103", f"emit rule {index + 1}: expected a table", path)
                continue
            self.unknown_keys(entry, _EMIT_KEYS, path)
            fields: dict[str, str] = {}
            for key in _EMIT_KEYS:
                if key not in entry:
                    self.fail(
                        "SG101",
                        f"emit rule {index + 1}: missing key {key!r}",
                        path,
                        hint=f"each [[emit]] needs {', '.join(_EMIT_KEYS)}",
                    )
                elif not isinstance(entry[key], str) or not entry[key]:
                    self.fail(
                        "SG103",
                        f"emit rule {index + 1}: {key!r}: expected a non-empty string, got "
                        f"{show_value(entry[key])}",
                        (*path, key),
                    )
                else:
                    fields[key] = entry[key]
            if len(fields) != len(_EMIT_KEYS):
                continue
            problem = (
                self.target_problem(fields["target"])
                or self.path_problem("spec", fields["spec"])
                or self.out_problem(fields["out"])
            )
            if problem is not None:
                key, message, hint = problem
                self.fail("SG104", f"emit rule {index + 1}: {message}", (*path, key), hint)
                continue
            rules.append(EmitRule(fields["spec"], fields["target"], fields["out"], index))
        return tuple(rules)

    def target_problem(self, target: str) -> tuple[str, str, str | None] | None:
        if target in TARGETS:
            return None
        return "target", f"unknown target {target!r}", "one of " + ", ".join(TARGETS)

    @staticmethod
    def path_problem(key: str, text: str) -> tuple[str, str, str | None] | None:
        """Paths stay inside the project: relative, without `..`."""
        pure = Path(text)
        if pure.is_absolute() or text.startswith(("/", "\\")) or ".." in pure.parts:
            return (
                key,
                f"{key!r} must be a path relative to the config's folder, inside it: {text!r}",
                None,
            )
        if "\x00" in text or not text.isprintable():
            return key, f"{key!r} holds a control character: {text!r}", None
        return None

    def out_problem(self, out: str) -> tuple[str, str, str | None] | None:
        found = self.path_problem("out", out)
        if found is not None:
            return found
        if any(ch in out for ch in "*?["):
            return "out", f"'out' is a file name, not a glob: {out!r}", "use {stem}"
        if not out.endswith(".py"):
            return "out", f"'out' names the generated Python file (.py): {out!r}", None
        names = re.findall(r"\{([^{}]*)\}", out)
        unknown = [n for n in names if n not in OUT_FIELDS]
        stray = re.sub(r"\{[^{}]*\}", "", out)
        if unknown or "{" in stray or "}" in stray:
            return (
                "out",
                f"'out' may hold only {{stem}} and {{target}}: {out!r}",
                'e.g. out = "models/{stem}_{target}.py"',
            )
        return None


class _TomlKeys:
    """Where each key of a TOML document is: a line scan good enough to point at a key.

    Handles `[table]`, `[[array.of.tables]]` (counting the entries), `key = value` and
    dotted `a.b = value` lines, and the items of a one-line array (`allow = ["SG301"]`).
    Multi-line strings and inline tables are not entered; a path found nowhere is
    placed at its nearest enclosing key or table.
    """

    # `[table]` or `[[array]]` at the start of a line: one greedy run to the first `]`,
    # so the match is linear (a lazy run beside `\s*` took cubic time on long blanks).
    _HEADER = re.compile(r"[ \t]*(\[\[?)([^\]\n]*)\]\]?[ \t]*(?:#.*)?$")
    _KEY = re.compile(
        r"""^(\s*)((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=\s*"""
    )

    def __init__(self, text: str) -> None:
        self.places: dict[JsonPath, Position] = {}
        counts: dict[JsonPath, int] = {}
        table: JsonPath = ()
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string:
                in_string = line.count('"""') % 2 == 0 and line.count("'''") % 2 == 0
                continue
            header = self._HEADER.match(line)
            if header is not None:
                keys = self._split(header.group(2))
                if header.group(1) == "[[":
                    index = counts.get(keys, 0)
                    counts[keys] = index + 1
                    table = (*keys, index)
                    self.places.setdefault(keys, Position(number, line.index("[") + 1))
                else:
                    table = keys
                here = Position(number, line.index("[") + 1)
                for end in range(1, len(keys) + 1):  # `[tool.specgen]` also places `tool`
                    self.places.setdefault(keys[:end], here)
                self.places.setdefault(table, here)
                continue
            key = self._KEY.match(line)
            if key is None:
                continue
            path = (*table, *self._split(key.group(2)))
            self.places.setdefault(path, Position(number, len(key.group(1)) + 1))
            rest = line[key.end() :]
            self.places.setdefault((*path, "="), Position(number, key.end() + 1))
            if rest.count('"""') % 2 == 1 or rest.count("'''") % 2 == 1:
                in_string = True
            elif rest.startswith("["):
                self._items(path, rest, number, key.end())

    def _items(self, path: JsonPath, rest: str, line: int, offset: int) -> None:
        # The top-level items of a one-line array: strings, numbers, words.
        for index, item in enumerate(
            re.finditer(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s,\[\]#]+', rest[1:])
        ):
            if item.group(0).startswith("#"):
                break
            self.places.setdefault((*path, index), Position(line, offset + 2 + item.start()))

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', dotted)
        return tuple(a or b or c for a, b, c in parts)

    def position(self, path: JsonPath, *, at_key: bool = False) -> Position | None:
        """The place of `path`: its item, key or table, else the nearest enclosing one.
        A value's problem points at the value (after `=`) unless `at_key`."""
        for end in range(len(path), -1, -1):
            place = self.places.get(path[:end])
            if place is not None:
                if end == len(path) and not at_key:
                    return self.places.get((*path, "="), place)
                return place
        return None


def resolve(explicit: Path | None) -> tuple[Config, list[Diagnostic]]:
    """The config for this run: `--config PATH`, else the one found from the working
    directory, else the defaults. `SPECGEN_NO_CONFIG=1` ignores any found config."""
    if explicit is not None:
        if not explicit.is_file():
            return DEFAULT_CONFIG, [
                Diagnostic("SG008", "--config: no such file", file=relative(explicit))
            ]
        return load_config(explicit)
    if os.environ.get("SPECGEN_NO_CONFIG", "") not in ("", "0"):
        return DEFAULT_CONFIG, []
    found = find_config()
    return load_config(found) if found is not None else (DEFAULT_CONFIG, [])
