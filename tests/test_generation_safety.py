"""Generation safety in depth: no spec, however crafted, makes emitted code do anything but
define the model.

Three layers of evidence, none of which needs a framework:

- the allow-list (`specgen.targets.guard`) accepts every source emitted for every spec in
  the repository, both targets, and each of its rules rejects a hand-written malicious
  variant of an emitted file (one table row per rule, so a weakened rule fails a test);
- hostile spec inputs (names, block names, local and instance names, the model name, option
  strings, ``$param`` values, file names) go through the command line: each is either
  refused with a located error (exit 1) or emitted *inert*: the source passes the guard
  and ``ruff check``, and its syntax tree has exactly the shape of the same spec with a
  plain name in that place (the hostile text changed names and strings, never code);
- the guard runs inside `emit_source`: a violation ends as exit 3 with nothing on stdout
  and no file written.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import specgen.cli
import specgen.targets
from specgen.check import check_file
from specgen.targets import TARGETS, emit_source, lower
from specgen.targets.base import render
from specgen.targets.guard import PYTHON_BUILTINS, UnsafeSource, check_source

ROOT = Path(__file__).resolve().parent.parent
TARGET_NAMES = sorted(TARGETS)
REPOSITORY_SPECS = sorted(
    path
    for pattern in (
        "specs/*.*",
        "specs/zoo/*.*",
        "tests/cases/*.*",
        "tests/cases_*/*.*",
        "tests/torch_backend_cases/*.*",
    )
    for path in ROOT.glob(pattern)
    if path.suffix in {".json", ".yaml", ".yml"} and not path.name.endswith(".schema.json")
)
# path:line:col: error[SGnnn]: a diagnostic that points into the file.
LOCATED_ERROR = re.compile(r"^.+:\d+:\d+: error\[SG\d{3}\]: ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> Run:
    """`specgen.cli.main` in-process (the console script's code path): exit code, output."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        specgen.cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    code = exited.value.code
    assert code is None or isinstance(code, int), code
    return Run(code or 0, captured.out, captured.err)


def ruff_command() -> list[str]:
    """The ruff binary next to this Python (no interpreter start-up), else ``-m ruff``."""
    binary = Path(sys.executable).parent / "ruff"
    return [str(binary)] if binary.exists() else [sys.executable, "-m", "ruff"]


def ruff_check(files: list[Path], cwd: Path) -> None:
    """``ruff check`` under ruff's defaults plus the rules test_emit uses, no config."""
    done = subprocess.run(
        [
            *ruff_command(),
            *("check", "--isolated", "--no-cache", "--select", "E,F,W,I,UP,B"),
            *map(str, files),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- the guard accepts what specgen emits ---------------------------------------------


def test_repository_specs_are_found() -> None:
    assert len(REPOSITORY_SPECS) > 60
    assert any(path.parent.name == "zoo" for path in REPOSITORY_SPECS)


@pytest.mark.parametrize(
    "spec", REPOSITORY_SPECS, ids=[str(p.relative_to(ROOT)) for p in REPOSITORY_SPECS]
)
def test_guard_accepts_every_emitted_source(spec: Path) -> None:
    result = check_file(spec)
    assert result.graph is not None and result.document is not None, spec
    emitted = 0
    for target in TARGET_NAMES:
        lowered = lower(result.graph, target, result.path, result.document.raw)
        if lowered.findings:  # e.g. tests/cases_pytorch_only for Keras
            continue
        check_source(render(target, lowered, TARGETS[target].template), target)
        emitted += 1
    assert emitted


def test_builtins_list_covers_this_python() -> None:
    """Emitted names avoid PYTHON_BUILTINS, spelled out so that they never depend on the
    Python running specgen; it must hold every builtin of this one."""
    running = {name for name in dir(builtins) if not name.startswith("_")}
    assert running <= PYTHON_BUILTINS, sorted(running - PYTHON_BUILTINS)


# --- the guard rejects what specgen never emits ----------------------------------------

# Blocks used twice (a Keras function with a `name` parameter, a PyTorch class with
# spec_names), a merge (the Add helper with its loop), AvgPool2dSame (imports F) and
# option strings: most of what the templates can emit.
BASE_SPEC = """\
specgen: 1
name: base
input: {shape: [8, 8, 3]}
blocks:
  unit:
    params: {k: null}
    layers:
      - {name: 1_conv, type: conv2d, filters: 4, kernel_size: $k, padding: same, activation: relu}
      - {name: bn, type: batch_norm}
layers:
  - {type: conv2d, name: stem, filters: 4, kernel_size: 3, padding: same}
  - {block: unit, name: first, with: {k: 3}}
  - {block: unit, name: second, with: {k: 1}}
  - {type: add, name: skip, inputs: [stem, second_bn]}
  - {type: avg_pool2d, name: pool, pool_size: 2, stride: 1, padding: same}
  - {type: upsample2d, name: up, interpolation: bilinear}
  - {type: global_avg_pool2d, name: gap}
  - {type: dense, name: out, units: 2, activation: softmax}
"""


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("base") / "base.yaml"
    path.write_text(BASE_SPEC, encoding="utf-8")
    result = check_file(path)
    assert result.graph is not None and result.document is not None
    sources: dict[str, str] = {}
    for target in TARGET_NAMES:
        source, findings = emit_source(result.graph, target, result.path, result.document.raw)
        assert source is not None, findings
        sources[target] = source
    return sources


# Where statements are slipped in: the body of build_model (Keras), of the model's forward
# and __init__ (PyTorch), of a Keras block function.
KERAS_BODY = '    inputs = keras.Input(shape=(8, 8, 3), name="input")\n'
KERAS_BLOCK = (
    '    x = layers.BatchNormalization(momentum=0.99, epsilon=0.001, name=name + "_bn")(x)\n'
)
TORCH_BODY = "        stem = self.stem(x)\n"
TORCH_INIT = "        self.stem = nn.Conv2d(3, 4, kernel_size=3, padding=1)\n"
KERAS_DOC = '"""Keras 3 model base, generated by specgen.'
TORCH_DOC = '"""PyTorch model base, generated by specgen.'
KERAS_UNIT = "def unit(x: keras.KerasTensor, k: int, name: str) -> keras.KerasTensor:"
KERAS_BUILD = "def build_model() -> keras.Model:"
TORCH_FORWARD = "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        stem"
TORCH_SPEC_NAMES = '{\n        "conv_1": "1_conv",\n    }'
TORCH_MODEL_DOC = '    """The base network.\n\n    Input: NCHW, shape (batch, 3, 8, 8).\n    """\n'


def into(anchor: str, *lines: str) -> tuple[str, str]:
    """Insert `lines` after `anchor`, at its indentation (deeper by their own)."""
    indent = anchor[: len(anchor) - len(anchor.lstrip())]
    return anchor, anchor + "".join(f"{indent}{line}\n" for line in lines)


def keras_body(*lines: str) -> tuple[str, str]:
    return into(KERAS_BODY, *lines)


def torch_body(*lines: str) -> tuple[str, str]:
    return into(TORCH_BODY, *lines)


# (id, target, (old, new), the rule's reason): `old` is replaced once by `new`.
MUTATIONS: list[tuple[str, str, tuple[str, str], str]] = [
    # text
    ("cyrillic-identifier", "keras", ("stem = layers", "st\u0435m = layers"), "printable ASCII"),
    ("fullwidth-identifier", "keras", ("stem = layers", "\uff53tem = layers"), "printable ASCII"),
    ("zero-width-joiner", "keras", ('name="stem"', 'name="st\u200dem"'), "printable ASCII"),
    ("raw-line-separator", "keras", ('name="stem"', 'name="st\u2028em"'), "printable ASCII"),
    ("raw-next-line", "pytorch", ("# Spec names", "# Spec\x85names"), "printable ASCII"),
    ("carriage-return", "keras", ("\n    inputs =", "\r    inputs ="), "printable ASCII"),
    ("tab", "keras", keras_body("\ty = x"), "printable ASCII"),
    ("nul", "keras", ('name="stem"', 'name="st\x00em"'), "printable ASCII"),
    ("encoding-cookie", "keras", (KERAS_DOC, "# -*- coding: utf-7 -*-\n" + KERAS_DOC), "encoding"),
    ("syntax-error", "keras", keras_body("y = ("), "does not parse"),
    # the module
    ("blank-line-first", "keras", (KERAS_DOC, "\n" + KERAS_DOC), "open with its docstring"),
    (
        "import-first",
        "pytorch",
        (TORCH_DOC, "import torch\n" + TORCH_DOC),
        "open with its docstring",
    ),
    (
        "import-os",
        "keras",
        ("import keras\n", "import keras\nimport os\n"),
        "not an allowed import",
    ),
    (
        "from-os",
        "keras",
        ("import keras\n", "from os import path\nimport keras\n"),
        "allowed import",
    ),
    ("import-sys-pytorch", "pytorch", ("import torch\n", "import torch\nimport sys\n"), "import"),
    (
        "import-as",
        "keras",
        ("import keras\n", "import keras as k\nimport keras\n"),
        "allowed import",
    ),
    ("two-imports", "keras", ("import keras\n", "import keras, sys\n"), "one name per import"),
    (
        "second-docstring",
        "keras",
        ("import keras\n", 'import keras\n"""More."""\n'),
        "only imports",
    ),
    ("top-level-call", "keras", (KERAS_BUILD, "build_model()\n\n\n" + KERAS_BUILD), "only imports"),
    ("top-level-if", "keras", (KERAS_BUILD, "if True:\n    X = 1\n" + KERAS_BUILD), "only imports"),
    ("constant-call", "keras", (KERAS_BUILD, "LIMIT = len('x')\n" + KERAS_BUILD), "int constant"),
    ("constant-lowercase", "keras", (KERAS_BUILD, "limit = 1\n" + KERAS_BUILD), "int constant"),
    ("constant-string", "keras", (KERAS_BUILD, "LIMIT = 'x'\n" + KERAS_BUILD), "int constant"),
    (
        "defined-twice",
        "keras",
        (KERAS_BUILD, "def unit() -> None:\n    return None\n" + KERAS_BUILD),
        "defined twice",
    ),
    (
        "no-build-model",
        "keras",
        (KERAS_BUILD, KERAS_BUILD.replace("build_", "make_")),
        "build_model is not",
    ),
    (
        "build-model-args",
        "keras",
        (KERAS_BUILD, KERAS_BUILD.replace("()", "(x: int)")),
        "no arguments",
    ),
    # what runs when the module is imported
    ("decorator", "keras", (KERAS_UNIT, "@staticmethod\n" + KERAS_UNIT), "decorators"),
    ("default-call", "keras", ("name: str)", "name: str = str())"), "default value is a constant"),
    ("annotation-call", "keras", ("k: int,", "k: len('x'),"), "type expression"),
    ("annotation-lambda", "keras", ("k: int,", "k: (lambda: 1),"), "type expression"),
    ("annotation-path", "keras", ("-> keras.Model:", "-> keras.utils.Sequence:"), "annotation"),
    ("return-annotation-call", "pytorch", ("-> Base:", "-> Base():"), "type expression"),
    ("class-base", "pytorch", ("class Base(nn.Module):", "class Base(object):"), "base class"),
    (
        "class-base-call",
        "pytorch",
        ("class Base(nn.Module):", "class Base(type('B', (), {})):"),
        "base class",
    ),
    (
        "class-keyword",
        "pytorch",
        ("class Base(nn.Module):", "class Base(nn.Module, metaclass=type):"),
        "keywords",
    ),
    (
        "class-decorator",
        "pytorch",
        ("class Base(nn.Module):", "@print\nclass Base(nn.Module):"),
        "decorators",
    ),
    (
        "class-statement",
        "pytorch",
        into(TORCH_MODEL_DOC, "print('x')"),
        "methods and constant dicts only",
    ),
    (
        "class-assignment",
        "pytorch",
        into(TORCH_MODEL_DOC, "cache = []"),
        "methods and constant dicts only",
    ),
    ("class-no-docstring", "pytorch", (TORCH_MODEL_DOC + "\n", ""), "opens with its docstring"),
    ("class-dict-call", "pytorch", ('"conv_1": "1_conv"', '"conv_1": print("x")'), "strings only"),
    ("class-dict-splat", "pytorch", ('"conv_1": "1_conv"', "**globals()"), "strings only"),
    ("class-attribute-call", "pytorch", (TORCH_SPEC_NAMES, 'dict(conv_1="1_conv")'), "dict of"),
    (
        "method-without-self",
        "pytorch",
        (TORCH_FORWARD, TORCH_FORWARD.replace("self, ", "")),
        "is self",
    ),
    ("unannotated-parameter", "keras", ("k: int, name", "k, name"), "every parameter is annotated"),
    ("no-return-type", "keras", (KERAS_BUILD, "def build_model():"), "return type"),
    (
        "positional-only",
        "keras",
        ("x: keras.KerasTensor, k", "x: keras.KerasTensor, /, k"),
        "positional-only",
    ),
    (
        "double-star-parameter",
        "keras",
        ("name: str)", "name: str, **extra: int)"),
        "positional-only and **",
    ),
    (
        "module-level-init",
        "keras",
        (KERAS_BUILD, "def __init__() -> None:\n    return None\n\n\n" + KERAS_BUILD),
        "starts with '__'",
    ),
    # statements
    (
        "nested-function",
        "keras",
        keras_body("def inner() -> None:", "    return None"),
        "FunctionDef is not emitted",
    ),
    (
        "nested-class",
        "pytorch",
        torch_body("class Inner(nn.Module):", '    """Doc."""'),
        "statement not emitted here",
    ),
    ("nested-import", "keras", keras_body("import keras"), "Import is not emitted"),
    ("expression-not-call", "keras", keras_body("x"), "must be a call"),
    ("stray-string", "keras", keras_body('"""Not a docstring."""'), "must be a call"),
    ("assign-subscript", "keras", keras_body("x[0] = x"), "assignments go to names"),
    ("assign-attribute", "keras", keras_body("x.y = x"), "assignments go to names"),
    (
        "for-in-keras",
        "keras",
        keras_body("for y in x:", "    z = y"),
        "For is not emitted for keras",
    ),
    (
        "for-else",
        "pytorch",
        (
            "            out = out + x\n",
            "            out = out + x\n        else:\n            out = x\n",
        ),
        "no else",
    ),
    ("for-tuple-target", "pytorch", ("for x in inputs", "for x, y in inputs"), "binds one name"),
    (
        "try-except",
        "keras",
        keras_body("try:", "    y = x", "except Exception:", "    y = x"),
        "only try/finally",
    ),
    (
        "try-in-pytorch",
        "pytorch",
        torch_body("try:", "    y = x", "finally:", "    y = x"),
        "Try is not emitted",
    ),
    ("if", "keras", keras_body("if x:", "    y = x"), "If is not emitted"),
    ("while", "keras", keras_body("while x:", "    y = x"), "While is not emitted"),
    ("with", "keras", keras_body("with x:", "    y = x"), "With is not emitted"),
    ("global", "keras", keras_body("global y"), "Global is not emitted"),
    ("delete", "keras", keras_body("del x"), "Delete is not emitted"),
    ("augmented-assignment", "pytorch", torch_body("x += 1"), "AugAssign is not emitted"),
    ("raise", "keras", keras_body("raise x"), "Raise is not emitted"),
    ("assert", "keras", keras_body("assert x"), "Assert is not emitted"),
    # expressions
    ("lambda", "keras", keras_body("y = lambda: x"), "Lambda is not emitted"),
    ("f-string", "keras", keras_body('y = f"{x}"'), "JoinedStr is not emitted"),
    ("list-comprehension", "keras", keras_body("y = [z for z in x]"), "ListComp is not emitted"),
    ("generator", "pytorch", torch_body("y = (z for z in x)"), "GeneratorExp is not emitted"),
    ("walrus", "keras", keras_body("y = (z := x)"), "NamedExpr is not emitted"),
    ("dict-display", "pytorch", torch_body("y = {}"), "Dict is not emitted"),
    ("set-display", "pytorch", torch_body("y = {x}"), "Set is not emitted"),
    ("compare-in-keras", "keras", keras_body("y = x is None"), "Compare is not emitted for keras"),
    ("compare-eq", "pytorch", torch_body("y = x == x"), "Eq is not emitted"),
    ("power", "pytorch", torch_body("y = x ** 2"), "Pow is not emitted"),
    ("not", "pytorch", torch_body("y = not x"), "Not is not emitted"),
    ("bool-op", "pytorch", torch_body("y = x or x"), "BoolOp is not emitted"),
    ("await", "pytorch", torch_body("y = await x"), "Await is not emitted"),
    ("ellipsis-in-keras", "keras", keras_body("y = ..."), "ellipsis constant is not emitted"),
    ("bytes", "keras", keras_body('y = b"x"'), "bytes constant is not emitted"),
    ("complex", "pytorch", torch_body("y = 1j"), "complex constant is not emitted"),
    ("infinite-float", "pytorch", torch_body("y = 1e999"), "non-finite float"),
    # names
    ("dunder-import", "keras", keras_body('y = __import__("os")'), "'__import__' starts with '__'"),
    ("dunder-builtins", "pytorch", torch_body("y = __builtins__"), "starts with '__'"),
    ("dunder-binding", "keras", keras_body("__y = x"), "starts with '__'"),
    (
        "private-binding-mangled",
        "pytorch",
        ("(self, k: int,", "(self, __k: int,"),
        "starts with '__'",
    ),
    ("eval", "keras", keras_body('y = eval("1")'), "'eval' is forbidden"),
    ("exec", "keras", keras_body('exec("1")'), "'exec' is forbidden"),
    ("compile", "pytorch", torch_body('y = compile("1", "f", "exec")'), "'compile' is forbidden"),
    ("open", "pytorch", torch_body('y = open("f")'), "'open' is forbidden"),
    ("getattr", "keras", keras_body("y = getattr(x, 'shape')"), "'getattr' is forbidden"),
    ("globals", "keras", keras_body("y = globals()"), "'globals' is forbidden"),
    ("os-name", "keras", keras_body("y = os"), "'os' is forbidden"),
    ("subprocess-name", "pytorch", torch_body("y = subprocess"), "'subprocess' is forbidden"),
    ("read-undefined", "keras", keras_body("y = print"), "'print' is read but neither defined"),
    ("call-undefined", "pytorch", torch_body("print(x)"), "'print' is read but neither defined"),
    (
        "call-variable",
        "keras",
        keras_body("y = inputs(x)"),
        "calls 'inputs', which is neither defined",
    ),
    (
        "call-readable-builtin",
        "keras",
        keras_body("y = int(x)"),
        "calls 'int', which is neither defined",
    ),
    ("shadow-builtin", "keras", keras_body("max = x"), "shadows a builtin"),
    (
        "shadow-builtin-parameter",
        "pytorch",
        ("(self, k: int,", "(self, len: int,"),
        "shadows a builtin",
    ),
    ("shadow-import", "keras", keras_body("layers = x"), "shadows an import"),
    ("shadow-import-torch", "pytorch", torch_body("F = x"), "shadows an import"),
    ("shadow-definition", "keras", keras_body("unit = x"), "shadows a module-level definition"),
    (
        "shadow-definition-parameter",
        "keras",
        ("k: int, name", "unit: int, name"),
        "module-level definition",
    ),
    ("assign-name-in-block", "keras", into(KERAS_BLOCK, "name = x"), "assigns 'name'"),
    ("assign-self", "pytorch", torch_body("self = x"), "assigns 'self'"),
    # attributes
    (
        "dunder-attribute",
        "keras",
        keras_body("y = x.__class__"),
        "attribute '__class__' starts with '_'",
    ),
    ("dunder-chain", "pytorch", torch_body("y = x.__class__.__name__"), "starts with '_'"),
    (
        "private-attribute",
        "pytorch",
        torch_body("y = self._modules"),
        "attribute '_modules' starts with '_'",
    ),
    (
        "framework-path",
        "keras",
        keras_body('y = keras.utils.get_file("f", "u")'),
        "'keras.utils.get_file' is not",
    ),
    (
        "framework-load",
        "pytorch",
        torch_body('y = torch.load("m.pt")'),
        "'torch.load' is not an allowed name",
    ),
    (
        "framework-dunder",
        "pytorch",
        torch_body("y = torch.__builtins__"),
        "'torch.__builtins__' is not",
    ),
    (
        "framework-layer-unknown",
        "keras",
        ("layers.Add(", "layers.Lambda("),
        "'layers.Lambda' is not",
    ),
    # calls
    ("tensor-method", "pytorch", torch_body("x = x.numpy()"), "calls the method 'numpy'"),
    (
        "tensor-method-chain",
        "pytorch",
        torch_body("x = x.reshape(1).tolist()"),
        "calls the method 'tolist'",
    ),
    (
        "self-unassigned",
        "pytorch",
        torch_body("x = self.load_state_dict(x)"),
        "self.load_state_dict, which is never",
    ),
    (
        "self-shadows-method",
        "pytorch",
        into(TORCH_INIT, "self.forward = nn.Identity()"),
        "shadows a method",
    ),
    (
        "self-shadows-inherited",
        "pytorch",
        into(TORCH_INIT, "self.eval = nn.Identity()"),
        "shadows a method",
    ),
    ("super-other", "pytorch", torch_body("x = super().state_dict()"), "calls super().state_dict"),
    ("call-of-call", "keras", keras_body("y = build_model()(x)"), "framework layer's instance"),
    ("call-of-subscript", "keras", keras_body("y = [unit][0](x)"), "calls a Subscript"),
    ("double-star-argument", "pytorch", torch_body("x = self.stem(**x)"), "** arguments"),
    # strings
    (
        "string-newline",
        "keras",
        ('name="stem"', 'name="st\\nem"'),
        "line break outside a docstring",
    ),
    ("string-carriage-return", "keras", ('name="stem"', 'name="st\\rem"'), "line break"),
    ("string-line-separator", "keras", ('name="stem"', 'name="st\\u2028em"'), "line break"),
    (
        "string-paragraph-separator",
        "pytorch",
        ('mode="bilinear"', 'mode="a\\u2029b"'),
        "line break",
    ),
    ("string-next-line", "keras", ('name="stem"', 'name="st\\x85em"'), "line break"),
    (
        "string-code-after-newline",
        "keras",
        ('name="stem"', 'name="stem\\nimport os"'),
        "line break",
    ),
    (
        "option-string",
        "keras",
        ('padding="same", name="stem"', 'padding="reflect", name="stem"'),
        "'reflect' is not an allowed option string",
    ),
    (
        "option-string-pytorch",
        "pytorch",
        ('mode="bilinear"', 'mode="bicubic"'),
        "'bicubic' is not an allowed option",
    ),
    (
        "name-string",
        "keras",
        ('name="stem"', 'name="stem; rm"'),
        "'stem; rm' is not an allowed name string",
    ),
    (
        "name-string-unicode-escape",
        "keras",
        ('name="stem"', 'name="st\\u0435m"'),
        "not an allowed name string",
    ),
    (
        "layer-name-outside-name",
        "keras",
        keras_body('y = "stem"'),
        "'stem' is not an allowed option string",
    ),
    ("empty-string", "keras", keras_body('y = ""'), "'' is not an allowed option string"),
]
# One id per row: a row's id names the rule variant it breaks.
assert len({row[0] for row in MUTATIONS}) == len(MUTATIONS)


def test_base_sources_pass(bases: dict[str, str]) -> None:
    for target, source in bases.items():
        check_source(source, target)


@pytest.mark.parametrize(
    ("target", "change", "reason"),
    [pytest.param(target, change, reason, id=key) for key, target, change, reason in MUTATIONS],
)
def test_guard_rejects(
    bases: dict[str, str], target: str, change: tuple[str, str], reason: str
) -> None:
    old, new = change
    source = bases[target]
    assert old in source, f"the anchor {old!r} is not in the {target} base source"
    with pytest.raises(UnsafeSource) as refused:
        check_source(source.replace(old, new, 1), target)
    assert reason in str(refused.value)
    assert refused.value.target == target
    assert refused.value.line >= 0


def test_guard_error_names_node_line_and_reason(bases: dict[str, str]) -> None:
    source = bases["keras"].replace(KERAS_BODY, KERAS_BODY + "    y = eval('1')\n", 1)
    with pytest.raises(UnsafeSource) as refused:
        check_source(source, "keras")
    error = refused.value
    line = source.splitlines().index("    y = eval('1')") + 1
    assert (error.kind, error.line) == ("Name", line)
    assert str(error) == f"emitted keras source, line {line}: Name: the name 'eval' is forbidden"


def test_each_target_has_its_own_allow_list(bases: dict[str, str]) -> None:
    """A Keras file is no PyTorch file: imports of the other framework are refused."""
    with pytest.raises(UnsafeSource, match="not an allowed import"):
        check_source(bases["keras"], "pytorch")
    with pytest.raises(UnsafeSource, match="not an allowed import"):
        check_source(bases["pytorch"], "keras")


# --- the guard is wired in: a violation is exit 3, nothing printed or written -----------


def test_emit_source_refuses_unsafe_source(
    bases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "base.yaml"
    path.write_text(BASE_SPEC, encoding="utf-8")
    result = check_file(path)
    assert result.graph is not None and result.document is not None
    evil = bases["keras"] + "\nimport os\n"
    monkeypatch.setattr(specgen.targets, "render", lambda *args: evil)
    with pytest.raises(UnsafeSource):
        emit_source(result.graph, "keras", result.path, result.document.raw)


@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "out-file"])
def test_guard_violation_is_exit_3_with_no_output(
    bases: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    to_file: bool,
) -> None:
    path = tmp_path / "base.yaml"
    path.write_text(BASE_SPEC, encoding="utf-8")
    out = tmp_path / "model.py"
    out.write_text("# the previous model\n", encoding="utf-8")
    evil = bases["keras"].replace(KERAS_BODY, KERAS_BODY + "    __import__('os')\n")
    monkeypatch.setattr(specgen.targets, "render", lambda *args: evil)
    argv = ["emit", path, "--target", "keras", *(["-o", out] if to_file else [])]
    run = run_cli(capsys, *argv)
    assert run.code == 3
    assert run.out == ""
    assert "internal error" in run.err and "Traceback" not in run.err
    assert out.read_text(encoding="utf-8") == "# the previous model\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "model.py"]


# --- hostile spec inputs through the command line --------------------------------------

# Text that would break out of a string, a comment or a docstring, Jinja syntax, and names
# that look like others (Cyrillic o, fullwidth letters, a combining accent, joiners).
BREAKING = [
    "a'b",
    'a"b',
    "a\\b",
    "a\nb",
    "a\rb",
    "a\u2028b",
    "a\u2029b",
    "a\x85b",
    'a"""b',
    "a'''b",
    "a#b",
    "a{b}",
    "{{ x }}",
    "{% if 1 %}x{% endif %}",
    "c\u043env",
    "\uff43\uff4f\uff4e\uff56",
    "\uff58",
    "conv\u0301",
    "con\u200dv",
    "con\u200bv",
    "a b",
    "a.b",
    "a\x00b",
    "",
    "x)\nimport os\n(",
]
# Identifiers that are keywords, soft keywords, dunders, builtins, or the emitted code's
# own names (imports, variables, helpers, the builder).
IDENTIFIERS = ["class", "def", "lambda", "None", "True", "match", "case", "type", "_"]
IDENTIFIERS += ["__init__", "__class__", "__x", "_x", "x", "self", "nn", "layers", "keras"]
IDENTIFIERS += ["torch", "build_model", "forward", "F", "inputs", "name", "sys", "eval"]
IDENTIFIERS += ["max", "os", "Add", "spec_names", "RECURSION_LIMIT", "build_graph", "limit"]
# Near misses of option strings.
NEAR = ["Relu", "relu ", "same\n", "valid'", "relu\u200b", "\uff52\uff45\uff4c\uff55", "None"]

NAME_POSITIONS = ["layer", "block", "local", "instance", "model", "param"]
OPTION_POSITIONS = ["activation", "interpolation", "padding", "param_value", "outputs"]
BENIGN = "zzz"


def hostile_spec(position: str, value: str) -> dict[str, Any]:
    """A spec with `value` at `position`: a layer read twice (a named variable), a block
    used twice with differing arguments (a Keras function, a PyTorch class), option
    strings, a parameter that carries a string."""
    layer = value if position == "layer" else "conv"
    block = value if position == "block" else "unit"
    local = value if position == "local" else "c"
    instance = value if position == "instance" else "first"
    param = value if position == "param" else "k"
    spec: dict[str, Any] = {
        "specgen": 1,
        "name": value if position == "model" else "model",
        "input": {"shape": [8, 8, 3]},
        "blocks": {
            block: {
                "params": {param: None, "act": "relu"},
                "layers": [
                    {
                        "name": local,
                        "type": "conv2d",
                        "filters": 4,
                        "kernel_size": f"${param}",
                        "padding": "same",
                        "activation": "$act",
                    },
                    {"name": "bn", "type": "batch_norm"},
                ],
            }
        },
        "layers": [
            {
                "type": "conv2d",
                "name": layer,
                "filters": 4,
                "kernel_size": 3,
                "padding": value if position == "padding" else "same",
                "activation": value if position == "activation" else "relu",
            },
            {
                "block": block,
                "name": instance,
                "with": {param: 3, **({"act": value} if position == "param_value" else {})},
            },
            {"block": block, "name": "second", "with": {param: 1}},
            {"type": "add", "name": "skip", "inputs": [layer, "second_bn"]},
            {
                "type": "upsample2d",
                "name": "up",
                "interpolation": value if position == "interpolation" else "nearest",
            },
            {"type": "global_avg_pool2d", "name": "gap"},
            {"type": "dense", "name": "out", "units": 2},
        ],
    }
    if position == "outputs":
        spec["outputs"] = [value]
    return spec


def skeleton(source: str) -> list[str]:
    """The syntax tree's node kinds in walk order, with every non-string constant: what a
    spec's names and strings may not change. ``spec_names`` (and its import) is left out:
    a name that is no attribute adds an entry of strings there."""
    tree = ast.parse(source)
    for node in list(ast.walk(tree)):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            node.body = [  # type: ignore[attr-defined]
                s
                for s in body
                if not isinstance(s, ast.AnnAssign)
                and not (isinstance(s, ast.ImportFrom) and s.module == "typing")
            ]
    return [
        type(n).__name__
        + (f"={n.value!r}" if isinstance(n, ast.Constant) and not isinstance(n.value, str) else "")
        for n in ast.walk(tree)
    ]


_benign: dict[tuple[str, str], list[str]] = {}


def benign_skeleton(position: str, target: str, folder: Path) -> list[str]:
    if (position, target) not in _benign:
        path = folder / "benign.json"
        path.write_text(json.dumps(hostile_spec(position, BENIGN)), encoding="utf-8")
        result = check_file(path)
        assert result.graph is not None and result.document is not None
        source, findings = emit_source(result.graph, target, result.path, result.document.raw)
        assert source is not None, findings
        _benign[position, target] = skeleton(source)
    return _benign[position, target]


def assert_refused(run: Run, what: str) -> None:
    assert run.code == 1, (what, run)
    assert run.out == "", what
    assert LOCATED_ERROR.search(run.err), (what, run.err)
    assert "Traceback" not in run.err


def assert_inert(run: Run, target: str, position: str, value: str, tmp_path: Path) -> Path:
    """The emitted source passes the guard, is shaped as with a plain name, and the
    hostile text is an identifier (nothing else ever reaches the code)."""
    assert run.code == 0, run
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value), f"{value!r} was emitted"
    check_source(run.out, target)
    compile(run.out, "emitted.py", "exec")
    assert skeleton(run.out) == benign_skeleton(position, target, tmp_path)
    emitted = tmp_path / f"{target}_model.py"
    emitted.write_text(run.out, encoding="utf-8")
    return emitted


def hostile_cases(positions: list[str], values: list[str]) -> list[Any]:
    return [
        pytest.param(position, value, id=f"{position}-{value!r}")
        for position in positions
        for value in values
    ]


@pytest.mark.parametrize(
    ("position", "value"),
    hostile_cases(NAME_POSITIONS, BREAKING + IDENTIFIERS)
    + hostile_cases(OPTION_POSITIONS, BREAKING + NEAR),
)
def test_hostile_spec_value_is_refused_or_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], position: str, value: str
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(hostile_spec(position, value)), encoding="utf-8")
    emitted: list[Path] = []
    for target in TARGET_NAMES:
        run = run_cli(capsys, "emit", spec, "--target", target)
        if run.code == 0:
            emitted.append(assert_inert(run, target, position, value, tmp_path))
        else:
            assert_refused(run, f"{target}: {value!r}")
            if "error[SG4" not in run.err:  # refused by validation: the same for both
                break
    if position in OPTION_POSITIONS or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        assert not emitted, "only identifiers can name anything"
    if emitted:
        ruff_check(emitted, tmp_path)


# Hostile names that the targets must emit (inertly), not refuse: the table above would
# also pass if everything were refused.
MUST_EMIT = [
    ("layer", "match", TARGET_NAMES),
    ("layer", "x", TARGET_NAMES),
    ("layer", "self", TARGET_NAMES),
    ("layer", "max", TARGET_NAMES),
    ("layer", "_", ["keras"]),
    ("block", "type", TARGET_NAMES),
    ("block", "name", TARGET_NAMES),
    ("block", "__init__", TARGET_NAMES),
    ("local", "class", TARGET_NAMES),
    ("local", "lambda", TARGET_NAMES),
    ("instance", "forward", TARGET_NAMES),
    ("model", "case", TARGET_NAMES),
    ("model", "build_model", TARGET_NAMES),
    ("param", "__x", TARGET_NAMES),
    ("param", "Add", TARGET_NAMES),
    ("param", "class", TARGET_NAMES),
]


@pytest.mark.parametrize(
    ("position", "value", "targets"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in MUST_EMIT],
)
def test_hostile_identifier_is_emitted_inert(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    position: str,
    value: str,
    targets: list[str],
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(hostile_spec(position, value)), encoding="utf-8")
    for target in targets:
        run = run_cli(capsys, "emit", spec, "--target", target)
        assert_inert(run, target, position, value, tmp_path)


# --- names that used to produce wrong code ---------------------------------------------


def emitted_source(tmp_path: Path, text: str, target: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    result = check_file(path)
    assert result.graph is not None and result.document is not None
    source, findings = emit_source(result.graph, target, result.path, result.document.raw)
    assert source is not None, findings
    return source


def defined_functions(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}


def test_keras_block_named_name_is_not_shadowed_by_the_name_parameter(tmp_path: Path) -> None:
    """A block called `name` used inside another block: its function was `name`, which
    the outer function's `name: str` parameter shadowed (calling a str)."""
    text = """\
specgen: 1
name: nested
input: {shape: [8, 8, 3]}
blocks:
  name:
    params: {k: null}
    layers:
      - {name: c, type: conv2d, filters: 4, kernel_size: $k, padding: same}
  outer:
    params: {k: null}
    layers:
      - {block: name, name: a, with: {k: $k}}
      - {block: name, name: b, with: {k: 1}}
layers:
  - {block: outer, name: o1, with: {k: 3}}
  - {block: outer, name: o2, with: {k: 5}}
  - {type: flatten}
"""
    source = emitted_source(tmp_path, text, "keras")
    assert "name" not in defined_functions(source)
    assert '    x = name_1(x, k=k, name=name + "_a")\n' in source


@pytest.mark.parametrize("block", ["max", "print", "type", "open"])
def test_keras_block_never_shadows_a_builtin(tmp_path: Path, block: str) -> None:
    """A Keras block function named `max` shadowed the `max` that a deep network's
    build_model calls to raise the recursion limit."""
    text = f"""\
specgen: 1
name: net
input: {{shape: [8, 8, 3]}}
blocks:
  {block}:
    params: {{k: null}}
    layers:
      - {{name: c, type: conv2d, filters: 4, kernel_size: $k, padding: same}}
layers:
  - {{block: {block}, name: a, with: {{k: 3}}}}
  - {{block: {block}, name: b, with: {{k: 1}}}}
"""
    source = emitted_source(tmp_path, text, "keras")
    assert f"{block}_1" in defined_functions(source)
    assert block not in defined_functions(source)


def test_pytorch_private_parameter_is_not_name_mangled(tmp_path: Path) -> None:
    """`def __init__(self, __k: int)` in a class is mangled to `_Unit__k`, while the call
    `Unit(__k=3)` passes `__k`: a TypeError when the model was built."""
    text = """\
specgen: 1
name: net
input: {shape: [8, 8, 3]}
blocks:
  unit:
    params: {__k: null}
    layers:
      - {name: c, type: conv2d, filters: 4, kernel_size: $__k, padding: same}
layers:
  - {block: unit, name: a, with: {__k: 3}}
  - {block: unit, name: b, with: {__k: 1}}
"""
    source = emitted_source(tmp_path, text, "pytorch")
    assert "__k" not in source
    assert "def __init__(self, in_channels: int, k: int, c_padding: int) -> None:" in source
    assert "self.a = Unit(in_channels=3, k=3, c_padding=1)" in source


def test_pytorch_block_parameter_never_shadows_a_helper(tmp_path: Path) -> None:
    """A block parameter named `Add` shadowed the Add helper class inside the block."""
    text = """\
specgen: 1
name: net
input: {shape: [8, 8, 4]}
blocks:
  unit:
    params: {Add: null}
    layers:
      - {name: c, type: conv2d, filters: 4, kernel_size: $Add, padding: same}
      - {name: sum, type: add, inputs: [input, c]}
layers:
  - {block: unit, name: a, with: {Add: 3}}
  - {block: unit, name: b, with: {Add: 1}}
"""
    source = emitted_source(tmp_path, text, "pytorch")
    assert "def __init__(self, Add_1: int, c_padding: int) -> None:" in source
    assert "self.sum = Add()" in source


@pytest.mark.parametrize("instance", ["_x", "_modules", "__init__"])
def test_pytorch_refuses_underscore_instance_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], instance: str
) -> None:
    """An instance is a submodule named after it: ``self._modules = Unit(...)`` would
    replace nn.Module's own state. Refused as layer names are (SG401), at its name."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(hostile_spec("instance", instance)), encoding="utf-8")
    run = run_cli(capsys, "emit", spec, "--target", "pytorch")
    assert_refused(run, instance)
    assert f"error[SG401]: block instance {instance!r} (unit)" in run.err
    keras_run = run_cli(capsys, "emit", spec, "--target", "keras")
    assert keras_run.code == 0, keras_run.err


# --- hostile file names ----------------------------------------------------------------

FILE_NAMES = [
    "a'b.yaml",
    'a"b.yaml',
    "a\\b.yaml",
    "a\nb.yaml",
    "a\rb.yaml",
    "a\u2028b.yaml",
    'a"""b.yaml',
    "a'''b.yaml",
    "a#b.yaml",
    "{{ x }}.yaml",
    "{% raw %}.yaml",
    "c\u043env.yaml",
    "\uff43\uff4f\uff4e\uff56.yaml",
    "con\u200dv.yaml",
    "class.yaml",
    "__init__.yaml",
    "x)\nimport os\n(.yaml",
]
TINY = """\
specgen: 1
name: tiny
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, name: conv1, filters: 4, kernel_size: 3, activation: relu}
  - {type: flatten}
  - {type: dense, units: 2, activation: softmax}
"""


@pytest.mark.parametrize("filename", FILE_NAMES, ids=[repr(n) for n in FILE_NAMES])
def test_hostile_file_name_reaches_the_header_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str
) -> None:
    folder = tmp_path / 'd\'ir\n"""#'
    folder.mkdir()
    spec = folder / filename
    spec.write_text(TINY, encoding="utf-8")
    plain = tmp_path / "plain.yaml"
    plain.write_text(TINY, encoding="utf-8")
    emitted = []
    for target in TARGET_NAMES:
        run = run_cli(capsys, "emit", spec, "--target", target)
        assert run.code == 0, run
        check_source(run.out, target)
        label = re.search(r'^Generated from "([^"\n]*)"; do not edit\.$', run.out, re.M)
        assert label is not None and re.fullmatch(r"[A-Za-z0-9._-]+", label.group(1))
        reference = run_cli(capsys, "emit", plain, "--target", target)
        assert skeleton(run.out) == skeleton(reference.out)
        path = tmp_path / f"{target}_model.py"
        path.write_text(run.out, encoding="utf-8")
        emitted.append(path)
    ruff_check(emitted, tmp_path)


# --- the real console script --------------------------------------------------------------


def console_script() -> Path:
    script = Path(sys.executable).parent / "specgen"
    assert script.exists(), "the specgen console script is not installed next to this Python"
    return script


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_console_script_refuses_or_emits_inert(tmp_path: Path, target: str) -> None:
    """The installed `specgen` program, end to end: a newline-carrying layer name is a
    located error; a soft keyword layer name and a hostile file name emit inert code."""
    script = console_script()
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps(hostile_spec("layer", "x)\nimport os\n(")), encoding="utf-8")
    done = subprocess.run(
        [script, "emit", refused, "--target", target],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == "", done
    assert LOCATED_ERROR.search(done.stderr), done.stderr
    folder = tmp_path / 'x"""\n#'
    folder.mkdir()
    inert = folder / "m'\u2028.json"
    inert.write_text(json.dumps(hostile_spec("layer", "match")), encoding="utf-8")
    out = tmp_path / "model.py"
    done = subprocess.run(
        [script, "emit", inert, "--target", target, "-o", out],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done
    source = out.read_text(encoding="utf-8")
    check_source(source, target)
    assert skeleton(source) == benign_skeleton("layer", target, tmp_path)
    ruff_check([out], tmp_path)
