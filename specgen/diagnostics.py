"""Findings: what every stage of specgen reports instead of raising or printing.

A `Diagnostic` is plain data; `Report` accumulates them. Nothing here prints: the CLI
chooses a reporter (see `specgen.report`). Codes are stable and documented in
`CODES`; a code is never reused for a different meaning.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

JsonPath = tuple[str | int, ...]


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


# code -> one-line meaning. The README's table of codes is generated from this dict
# (tests/test_docs.py checks they agree), so this is the single source of truth.
CODES: dict[str, str] = {
    # SG0xx: reading the file
    "SG001": "the file is not well-formed JSON or YAML",
    "SG002": "a key appears twice in the same mapping",
    "SG003": "NaN or Infinity is not a valid number in a spec",
    "SG004": "unsupported YAML feature: anchors, aliases, tags, non-string keys, several documents",
    "SG005": "the file is too large or too deeply nested",
    "SG006": "the document is empty or its top level is not a mapping",
    "SG007": "the file is not valid UTF-8",
    # The project config (specgen.toml or [tool.specgen]); a spec's SG1xx codes serve its
    # keys and values. Its findings are the invocation's, not a spec's: exit code 2.
    "SG008": "the project config cannot be read or is not valid TOML",
    "SG009": "the project config's emit map: a pattern matches no spec, or two specs would "
    "write one file",
    # SG1xx: the schema
    "SG101": "a required key is missing",
    "SG102": "unknown key",
    "SG103": "a value has the wrong type (strict: '3', 3.0 and true are not the int 3)",
    "SG104": "a value is out of range or not one of the allowed values",
    "SG105": "unknown layer type",
    "SG106": "missing or unsupported format version ('specgen:')",
    "SG107": "a layer name is used twice",
    "SG108": "'inputs' or 'outputs' names a layer that does not exist or comes later",
    "SG109": "a layer gets the wrong number of inputs",
    "SG110": "a layer's output is never used and it is not one of the model's outputs",
    "SG111": "a block use names a block that is not defined",
    "SG112": "a block parameter is unknown, or a required one is missing",
    "SG113": "a block uses itself, directly or through other blocks",
    "SG114": "expanding the blocks would exceed the limit on layers or nesting depth",
    "SG115": "an expanded layer or instance name is not a valid name",
    # SG2xx: the shape pass
    "SG201": "a kernel or pooling window does not fit its (padded) input",
    "SG202": "the computed output shape differs from 'expect'",
    "SG203": "a layer is applied to an input of the wrong rank",
    "SG204": "groups does not divide the input channels or the filters",
    # conv2d no longer reports SG205: PyTorch takes stride > 1 with dilation > 1, so only
    # the Keras target refuses it (SG401). The code keeps its number (codes are never reused).
    "SG205": "stride > 1 together with dilation > 1 in a layer type that refuses it "
    "(conv2d takes it; the Keras target reports SG401)",
    "SG206": "softmax on an output that is not rank 1",
    "SG207": "the inputs of a merge layer have shapes that do not fit together",
    "SG208": "a concatenate axis is out of range for its inputs' rank",
    "SG209": "a per-channel list (scale, offset, mean, variance) does not match the channel count",
    "SG210": "a reshape's target_shape does not hold its input's element count",
    "SG211": "a tensor, the parameter or MAC count, or the layer count exceeds a resource "
    "limit (--limit)",
    # SG3xx: warnings (fail `validate` only with --strict)
    "SG301": "a pooling window silently drops rows or columns of its input",
    "SG302": "a block is defined but never used",
    "SG303": "Keras target: TensorFlow's CPU conv2d is reported to miscompute this geometry "
    "(one input channel, stride [1, > 1], output width 1)",
    "SG304": "Keras target: Keras' TensorFlow backend adds these broadcasting inputs along "
    "the wrong axis at some batch sizes",
    # SG4xx: what a target cannot express exactly (emit, validate --target)
    "SG401": "the target framework cannot express this layer exactly",
}


# The codes a layer's `allow` (and the project config) may acknowledge.
WARNING_CODES = tuple(code for code in CODES if code.startswith("SG3"))


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column in the source file."""

    line: int
    column: int


def format_json_path(path: JsonPath) -> str:
    """Render a path as JSONPath: ``$.layers[6].kernel_size``.

    >>> format_json_path(("layers", 6, "kernel_size"))
    '$.layers[6].kernel_size'
    >>> format_json_path(())
    '$'
    """
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif len(part) > MAX_KEY_IN_PATH:  # a hostile key: cut, so no longer a real path
            out += f"[{shorten(repr(part), MAX_KEY_IN_PATH)}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    severity: Severity = Severity.ERROR
    hint: str | None = None
    json_path: JsonPath = ()
    position: Position | None = None
    file: str = ""
    # Context lines, e.g. which block instance an expanded layer belongs to.
    notes: tuple[str, ...] = ()
    # A warning the spec acknowledges (`allow`): not printed, does not fail --strict.
    allowed: bool = False

    def __post_init__(self) -> None:
        if self.code not in CODES:  # a typo here is a bug in specgen, catch it in tests
            raise ValueError(f"undocumented diagnostic code {self.code!r}")
        # What a file says is quoted in messages; a 100,000-character name must not make
        # a 100,000-character line. Every text is cut in the middle past `MAX_TEXT`.
        if len(self.message) > MAX_TEXT:
            object.__setattr__(self, "message", shorten(self.message))
        if self.hint is not None and len(self.hint) > MAX_TEXT:
            object.__setattr__(self, "hint", shorten(self.hint))
        if any(len(note) > MAX_TEXT for note in self.notes):
            object.__setattr__(self, "notes", tuple(shorten(note) for note in self.notes))


MAX_TEXT = 1_000  # characters of a message, a hint or a note
MAX_KEY_IN_PATH = 100  # characters of one key in a shown JSON path


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut in the middle to at most `limit` characters, saying how much is cut.

    >>> shorten("a" * 50 + "b" * 50, 40)
    'aaaaaaaaaa … 84 characters cut … bbbbbb'
    """
    if len(text) <= limit:
        return text
    keep = max(limit - len(f" … {len(text):,} characters cut … "), 0)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    cut = len(text) - head - tail
    return f"{text[:head]} … {cut:,} characters cut … {text[len(text) - tail :]}"


@dataclass(slots=True)
class Report:
    """Accumulates findings for one file. Never prints, never raises."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The warnings the spec does not acknowledge (`allow`)."""
        return [d for d in self.diagnostics if d.severity is Severity.WARNING and not d.allowed]

    def failed(self, *, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))


def type_name(value: object) -> str:
    """The spec-level (JSON) name of a value's type.

    >>> type_name(True), type_name(3), type_name(None), type_name([1])
    ('boolean', 'int', 'null', 'list')
    """
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "int"), (float, "float"), (str, "string")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list | tuple):
        return "list"
    return "mapping" if isinstance(value, dict) else type(value).__name__


def show_value(value: object) -> str:
    """A value as the user wrote it (JSON spelling), quoted and cut short, with its type.

    >>> show_value(True)
    'true (boolean)'
    >>> show_value("3")
    "'3' (string)"
    >>> show_value(None)
    'null'
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | dict):
        text = json.dumps(value, default=repr)
    else:
        text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type_name(value)})"
