"""The last gate before emitted source leaves specgen: an allow-list over its syntax tree.

`literal` and `identifier` (targets.base) keep spec values from becoming code while the
source is built; this module checks the result, so that a bug there, in a lowering or in
a template cannot ship. `check_source` parses the emitted module with `ast` and accepts
only what the templates produce:

- text: printable ASCII and newlines only (no look-alikes, no Unicode line breaks, no
  tabs or carriage returns), no encoding declaration;
- the module: one docstring on line 1, then only allow-listed imports, UPPER_CASE int
  constants, functions and classes; ``build_model()`` defined; no name defined twice;
- import-time code is inert: no decorators, constant defaults, annotations that are
  type expressions, class bases from an allow-list, class bodies of methods and
  constant ``ClassVar`` dicts;
- statements and expressions: only the node kinds the target's template emits;
  expression statements are calls; strings that are not docstrings hold no line break
  and are either layer names (after ``name=``, in ``spec_names``) or a known option
  string (``'same'``, ``'relu'``, ...);
- names: ASCII identifiers, none starting with ``__`` but ``__init__``, no
  ``eval``/``exec``/``open``/``getattr``/``os``/...; no binding that shadows a builtin,
  an import or a module-level definition; names read only after they are bound (or
  allow-listed builtins);
- attributes: on an import only allow-listed paths (``layers.Conv2D``, ``nn.Linear``);
  on values no leading underscore (``self.open`` may be a layer's submodule); no
  ``self.x = ...`` over a method or an ``nn.Module`` attribute;
- calls: functions and classes the module defines, allow-listed builtins and framework
  paths, submodules assigned to ``self``, and a few tensor methods.

Each target has its own `Policy`, derived from what its template and lowering emit for
every spec in the repository (tests/test_generation_safety.py checks both directions).

A violation is a bug in specgen, never a user error: `UnsafeSource` reaches the CLI as an
internal error (exit 3), before anything is printed or written.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import NoReturn, TypeGuard

from specgen.activations import ACTIVATION_NAMES, canonical_activation
from specgen.collector import collector_paused


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Python's builtins (CPython 3.10-3.14, dunders left out), spelled out rather than read
# from `builtins` so that emitted names never depend on the Python that runs specgen.
# No emitted binding may shadow one; tests check this list against the running Python.
PYTHON_BUILTINS = _words(
    """
    ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup
    BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError
    ConnectionAbortedError ConnectionError ConnectionRefusedError
    ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning
    EnvironmentError Exception ExceptionGroup False FileExistsError
    FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError
    ImportError ImportWarning IndentationError IndexError InterruptedError
    IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError
    ModuleNotFoundError NameError None NotADirectoryError NotImplemented
    NotImplementedError OSError OverflowError PendingDeprecationWarning
    PermissionError ProcessLookupError PythonFinalizationError RecursionError
    ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration
    StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError
    TimeoutError True TypeError UnboundLocalError UnicodeDecodeError
    UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning
    ValueError Warning ZeroDivisionError abs aiter all anext any ascii bin bool
    breakpoint bytearray bytes callable chr classmethod compile complex copyright
    credits delattr dict dir divmod enumerate eval exec exit filter float format
    frozenset getattr globals hasattr hash help hex id input int isinstance
    issubclass iter len license list locals map max memoryview min next object oct
    open ord pow print property quit range repr reversed round set setattr slice
    sorted staticmethod str sum super tuple type vars zip
    """
)

# Never an identifier of emitted code, in any role: reflection, code execution, the
# process and the file system.
FORBIDDEN_NAMES = _words(
    """
    eval exec compile open getattr setattr delattr globals locals vars breakpoint
    input os subprocess importlib builtins pickle marshal shutil socket ctypes
    system popen spawn fork execv f_globals f_locals f_back gi_frame cr_frame
    tb_frame
    """
)

# Names a binding of emitted code never takes (`Namespace` reserves them).
RESERVED_NAMES = PYTHON_BUILTINS | FORBIDDEN_NAMES

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONSTANT_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_LAYER_NAME = re.compile(r"[A-Za-z0-9_]+\Z")  # a layer name, a suffix, a block-local name
_BAD_TEXT = re.compile(r"[^\n\x20-\x7e]")
_CODING = re.compile(r"[ \t\f]*#.*?coding[:=]")  # PEP 263


class UnsafeSource(Exception):
    """Emitted source outside the allow-list: a bug in specgen, never a user error."""

    def __init__(self, target: str, kind: str, line: int, reason: str) -> None:
        super().__init__(f"emitted {target} source, line {line}: {kind}: {reason}")
        self.target = target
        self.kind = kind
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Policy:
    """What one target's template emits."""

    imports: frozenset[str]  # whole import statements, one name each
    paths: frozenset[str]  # dotted names below an import (``layers.Conv2D``)
    bases: frozenset[str]  # class bases
    reads: frozenset[str]  # builtins the code reads (annotations, calls)
    calls: frozenset[str]  # builtins the code calls
    methods: frozenset[str]  # methods called on values (tensors)
    self_methods: frozenset[str]  # inherited methods called on ``self``
    strings: frozenset[str]  # option strings outside name positions
    unbindable: frozenset[str]  # names no statement may assign
    nodes: frozenset[type[ast.AST]]  # statement, expression and operator kinds
    ellipsis: bool  # ``...`` outside annotations (PyTorch's ``x[..., a:b]``)


_COMMON_NODES: frozenset[type[ast.AST]] = frozenset(
    {
        ast.Assign,
        ast.Return,
        ast.Expr,
        ast.Call,
        ast.Attribute,
        ast.Name,
        ast.Constant,
        ast.Tuple,
        ast.List,
        ast.Subscript,
        ast.BinOp,
        ast.UnaryOp,
        ast.Add,
        ast.BitOr,
        ast.USub,
    }
)

_KERAS_LAYERS = _words(
    """
    Activation Add Average AveragePooling2D BatchNormalization Concatenate Conv2D
    Conv2DTranspose Cropping2D Dense DepthwiseConv2D Dropout ELU Flatten
    GlobalAveragePooling2D GlobalMaxPooling2D LeakyReLU MaxPooling2D Maximum Minimum
    Multiply Normalization Rescaling Reshape SeparableConv2D Softmax Subtract
    UpSampling2D ZeroPadding2D
    """
)
_NN_MODULES = _words(
    """
    AdaptiveAvgPool2d AdaptiveMaxPool2d AvgPool2d BatchNorm1d BatchNorm2d
    ConstantPad2d Conv2d ConvTranspose2d Dropout ELU Flatten GELU Hardsigmoid
    Hardswish Identity LeakyReLU Linear MaxPool2d ReLU ReLU6 Sequential SiLU Sigmoid
    Softmax Tanh Upsample ZeroPad2d
    """
)

KERAS = Policy(
    imports=frozenset({"import keras", "from keras import layers", "import sys"}),
    paths=frozenset(
        {"keras.Input", "keras.Model", "keras.KerasTensor"}
        | {"sys.getrecursionlimit", "sys.setrecursionlimit"}
        | {f"layers.{name}" for name in _KERAS_LAYERS}
    ),
    bases=frozenset(),
    reads=frozenset({"int", "float", "bool", "str", "tuple", "max"}),
    calls=frozenset({"max"}),
    methods=frozenset(),
    self_methods=frozenset(),
    strings=frozenset(
        {"valid", "same", "nearest", "bilinear"}
        | {canonical_activation(name) or name for name in ACTIVATION_NAMES}
    ),
    unbindable=frozenset({"name"}),  # a block function's name prefix
    nodes=_COMMON_NODES | {ast.Try},
    ellipsis=False,
)

PYTORCH = Policy(
    imports=frozenset(
        {
            "import torch",
            "import torch.nn.functional as F",
            "from torch import nn",
            "from typing import ClassVar",
        }
    ),
    paths=frozenset(
        {"torch.Tensor", "torch.cat", "torch.maximum", "torch.minimum", "torch.int64"}
        | {"torch.ones", "torch.ones_like", "torch.tensor", "torch.zeros"}
        | {"F.avg_pool2d", "F.pad", "nn.functional", "nn.functional.batch_norm"}
        | {"nn.Module", "nn.Parameter"}
        | {f"nn.{name}" for name in _NN_MODULES}
    ),
    bases=frozenset({"nn.Module", "nn.ConvTranspose2d"}),
    reads=frozenset({"int", "float", "bool", "str", "tuple", "dict", "len", "super"}),
    calls=frozenset({"float", "len", "super"}),
    methods=frozenset({"permute", "reshape", "dim", "sqrt", "clamp_min"}),
    self_methods=frozenset({"register_buffer"}),
    strings=frozenset(
        {"zeros", "none", "bilinear", "nearest-exact", "-inf"}
        | {"mean", "variance", "count", "running_mean", "running_var"}  # buffers
    ),
    unbindable=frozenset({"self"}),
    nodes=_COMMON_NODES
    | {ast.ClassDef, ast.AnnAssign, ast.For, ast.IfExp, ast.Compare, ast.Is}
    | {ast.Slice, ast.Starred, ast.Sub, ast.Mult, ast.Div},
    ellipsis=True,
)

POLICIES = {"keras": KERAS, "pytorch": PYTORCH}


def check_source(source: str, target: str) -> None:
    """Raise `UnsafeSource` unless `source` is a module `target`'s template could emit."""
    _Checker(source, target, POLICIES[target]).check()


def _inherited_attributes(target: str) -> frozenset[str]:
    """What an emitted class inherits and a submodule must not shadow (nn.Module's own
    attributes; imported here, not at the top, since the targets import this module)."""
    if target != "pytorch":
        return frozenset()
    from specgen.targets.pytorch import NN_MODULE_ATTRIBUTES

    return NN_MODULE_ATTRIBUTES


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_super_call(node: ast.expr) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "super"
        and not node.args
        and not node.keywords
    )


class _Checker:
    def __init__(self, source: str, target: str, policy: Policy) -> None:
        self.source = source
        self.target = target
        self.policy = policy
        self.imported: set[str] = set()  # names the imports bind
        self.defined: set[str] = set()  # module-level functions and classes
        self.bound: set[str] = set()  # every name any statement or parameter binds
        self.self_attrs: set[str] = set()  # attributes assigned on ``self``
        self.methods: set[str] = set()  # the methods of the class being checked
        self.inherited = _inherited_attributes(target)

    def fail(self, node: ast.AST | None, reason: str) -> NoReturn:
        kind = type(node).__name__ if node is not None else "text"
        line = getattr(node, "lineno", 0)
        raise UnsafeSource(self.target, kind, line, reason)

    # --- the whole module ----------------------------------------------------------------

    def check(self) -> None:
        bad = _BAD_TEXT.search(self.source)
        if bad is not None:
            line = self.source.count("\n", 0, bad.start()) + 1
            raise UnsafeSource(
                self.target, "text", line, f"character {bad.group()!r} is not printable ASCII"
            )
        for number, line_text in enumerate(self.source.split("\n", 2)[:2], start=1):
            if _CODING.match(line_text):
                raise UnsafeSource(self.target, "text", number, "an encoding declaration")
        # The cyclic collector would rescan the growing tree: quadratic in the file's size.
        try:
            with collector_paused():
                tree = ast.parse(self.source)
        except (SyntaxError, ValueError) as error:
            raise UnsafeSource(
                self.target, "text", getattr(error, "lineno", 0) or 0, f"does not parse: {error}"
            ) from None
        self.collect(tree)
        self.module(tree)

    def collect(self, tree: ast.Module) -> None:
        """The module-level names: what the imports bind, the functions and classes."""
        for statement in tree.body:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                for alias in statement.names:
                    self.imported.add(alias.asname or alias.name.split(".")[0])
        for statement in tree.body:
            if isinstance(statement, ast.FunctionDef | ast.ClassDef):
                self.bind(statement, statement.name, defining=True)
                self.defined.add(statement.name)

    def bind(
        self, node: ast.AST, name: str, *, dunder_ok: bool = False, defining: bool = False
    ) -> None:
        """A name a statement, a parameter or a definition binds: it shadows nothing.

        Names are bound in source order, so a name is read only after its binding
        (module-level functions and classes are bound first)."""
        self.identifier(node, name, dunder_ok=dunder_ok)
        if name in PYTHON_BUILTINS:
            self.fail(node, f"binds {name!r}, which shadows a builtin")
        if name in self.imported:
            self.fail(node, f"binds {name!r}, which shadows an import")
        if name in self.defined and not defining:
            self.fail(node, f"binds {name!r}, which shadows a module-level definition")
        self.bound.add(name)

    def identifier(self, node: ast.AST, name: str, *, dunder_ok: bool = False) -> None:
        if not _IDENTIFIER.match(name):
            self.fail(node, f"{name!r} is not an ASCII identifier")
        if name in FORBIDDEN_NAMES:
            self.fail(node, f"the name {name!r} is forbidden")
        if name.startswith("__") and not dunder_ok:
            self.fail(node, f"the name {name!r} starts with '__'")

    def module(self, tree: ast.Module) -> None:
        body = tree.body
        if not body or not _is_docstring(body[0]) or body[0].lineno != 1:
            self.fail(body[0] if body else tree, "the module must open with its docstring")
        names: set[str] = set()
        for statement in body[1:]:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                self.import_(statement)
                new = [alias.asname or alias.name for alias in statement.names]
            elif isinstance(statement, ast.FunctionDef):
                self.function(statement, method=False)
                new = [statement.name]
            elif isinstance(statement, ast.ClassDef):
                self.class_(statement)
                new = [statement.name]
            elif isinstance(statement, ast.Assign):
                self.module_constant(statement)
                new = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            else:
                self.fail(statement, "only imports, constants, functions and classes")
            for name in new:
                if name in names:
                    self.fail(statement, f"{name!r} is defined twice")
                names.add(name)
        build = next(
            (s for s in body if isinstance(s, ast.FunctionDef) and s.name == "build_model"),
            None,
        )
        if build is None:
            self.fail(tree, "build_model is not defined")
        arguments = build.args
        if arguments.args or arguments.vararg or arguments.kwonlyargs or arguments.kwarg:
            self.fail(build, "build_model() takes no arguments")

    def import_(self, node: ast.Import | ast.ImportFrom) -> None:
        if len(node.names) != 1:
            self.fail(node, "one name per import")
        (alias,) = node.names
        written = f"import {alias.name}"
        if isinstance(node, ast.ImportFrom):
            written = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
        if alias.asname is not None:
            written += f" as {alias.asname}"
        if written not in self.policy.imports:
            self.fail(node, f"{written!r} is not an allowed import")

    def module_constant(self, node: ast.Assign) -> None:
        target = node.targets[0] if len(node.targets) == 1 else None
        value = node.value
        if (
            not isinstance(target, ast.Name)
            or not _CONSTANT_NAME.match(target.id)
            or not isinstance(value, ast.Constant)
            or type(value.value) is not int
        ):
            self.fail(node, "a module-level assignment must be an UPPER_CASE int constant")
        self.bind(target, target.id)

    # --- definitions ---------------------------------------------------------------------

    def kind(self, node: ast.AST) -> None:
        if type(node) not in self.policy.nodes:
            self.fail(node, f"{type(node).__name__} is not emitted for {self.target}")

    def class_(self, node: ast.ClassDef) -> None:
        self.kind(node)
        if node.decorator_list or node.keywords or getattr(node, "type_params", None):
            self.fail(node, "class decorators, keywords and type parameters are not emitted")
        for base in node.bases:
            if _dotted(base) not in self.policy.bases:
                self.fail(base, f"base class {ast.unparse(base)!r} is not allowed")
        body = node.body
        if not _is_docstring(body[0]):
            self.fail(body[0], "a class opens with its docstring")
        self.methods = {s.name for s in body if isinstance(s, ast.FunctionDef)}
        for statement in body[1:]:
            if isinstance(statement, ast.FunctionDef):
                self.function(statement, method=True)
            elif isinstance(statement, ast.AnnAssign):
                self.class_constant(statement)
            else:
                self.fail(statement, "a class holds methods and constant dicts only")

    def class_constant(self, node: ast.AnnAssign) -> None:
        """``spec_names: ClassVar[dict[str, str]] = {...}``: names of names, nothing else."""
        self.kind(node)
        if not isinstance(node.target, ast.Name) or not isinstance(node.value, ast.Dict):
            self.fail(node, "a class attribute is a name bound to a dict of strings")
        self.annotation(node.annotation)
        self.bind(node.target, node.target.id)
        for key, value in zip(node.value.keys, node.value.values, strict=True):
            for item in (key, value):
                if not isinstance(item, ast.Constant) or not isinstance(item.value, str):
                    self.fail(item or node, "a class attribute's dict holds strings only")
                self.string(item, item.value, name_position=True)

    def function(self, node: ast.FunctionDef, *, method: bool) -> None:
        if node.decorator_list or getattr(node, "type_params", None):
            self.fail(node, "decorators and type parameters are not emitted")
        arguments = node.args
        if arguments.posonlyargs or arguments.kwarg:
            self.fail(node, "positional-only and ** parameters are not emitted")
        params = [*arguments.args, *arguments.kwonlyargs]
        if arguments.vararg is not None:
            params.append(arguments.vararg)
        if method and (not arguments.args or arguments.args[0].arg != "self"):
            self.fail(node, "a method's first parameter is self")
        if method:
            self.bind(node, node.name, dunder_ok=node.name == "__init__")
        for param in params[1:] if method else params:
            if param.annotation is None:
                self.fail(param, "every parameter is annotated")
            self.annotation(param.annotation)
        for param in params:
            self.bind(param, param.arg)
        for default in [*arguments.defaults, *arguments.kw_defaults]:
            if default is not None:
                self.constant(default, annotation=False)
        if node.returns is None:
            self.fail(node, "every function declares its return type")
        self.annotation(node.returns)
        body = node.body[1:] if _is_docstring(node.body[0]) else node.body
        self.statements(body)

    # --- statements ----------------------------------------------------------------------

    def statements(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        self.kind(node)
        if isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.assign_target(target)
        elif isinstance(node, ast.Expr):
            if not isinstance(node.value, ast.Call):
                self.fail(node, "an expression statement must be a call (a stray string?)")
            self.expr(node.value)
        elif isinstance(node, ast.Return):
            if node.value is not None:
                self.expr(node.value)
        elif isinstance(node, ast.For):
            if not isinstance(node.target, ast.Name) or node.orelse:
                self.fail(node, "a for loop binds one name and has no else")
            self.expr(node.iter)
            self.assign_target(node.target)
            self.statements(node.body)
        elif isinstance(node, ast.Try):
            if node.handlers or node.orelse or not node.finalbody:
                self.fail(node, "only try/finally is emitted")
            self.statements(node.body)
            self.statements(node.finalbody)
        else:
            self.fail(node, "statement not emitted here")

    def assign_target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            if node.id in self.policy.unbindable:
                self.fail(node, f"assigns {node.id!r}, which the template's code reads")
            self.bind(node, node.id)
            return
        if isinstance(node, ast.Tuple):
            for element in node.elts:
                self.assign_target(element)
            return
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            self.attribute_name(node, node.attr)
            if node.attr in self.methods or node.attr in self.inherited:
                self.fail(node, f"assigns self.{node.attr}, which shadows a method")
            self.self_attrs.add(node.attr)
            return
        self.fail(node, "assignments go to names, tuples of names and self attributes")

    # --- expressions ---------------------------------------------------------------------

    def annotation(self, node: ast.expr) -> None:
        """A type expression: evaluated when the module is imported, so nothing else."""
        if isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Attribute):
            if _dotted(node) not in self.policy.paths:
                self.fail(node, f"annotation {ast.unparse(node)!r} is not allowed")
        elif isinstance(node, ast.Subscript):
            self.annotation(node.value)
            self.annotation(node.slice)
        elif isinstance(node, ast.Tuple):
            for element in node.elts:
                self.annotation(element)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            self.annotation(node.left)
            self.annotation(node.right)
        elif isinstance(node, ast.Constant) and (node.value is None or node.value is ...):
            pass
        else:
            self.fail(node, "an annotation is a type expression")

    def constant(self, node: ast.expr, *, annotation: bool, name_position: bool = False) -> None:
        if not isinstance(node, ast.Constant):
            self.fail(node, "a default value is a constant")
        value = node.value
        if value is None or isinstance(value, bool | int):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(node, "a non-finite float literal")
            return
        if isinstance(value, str):
            self.string(node, value, name_position=name_position)
            return
        if value is ... and (annotation or self.policy.ellipsis):
            return
        self.fail(node, f"a {type(value).__name__} constant is not emitted")

    def string(self, node: ast.AST, value: str, *, name_position: bool) -> None:
        if value and value.splitlines() != [value]:
            self.fail(node, "a string with a line break outside a docstring")
        if name_position and _LAYER_NAME.match(value):
            return
        if value not in self.policy.strings:
            where = "name" if name_position else "option"
            self.fail(node, f"{value!r} is not an allowed {where} string")

    def name(self, node: ast.Name) -> None:
        self.identifier(node, node.id)
        if isinstance(node.ctx, ast.Load):
            known = node.id in self.bound or node.id in self.imported
            if not known and node.id not in self.policy.reads:
                self.fail(node, f"{node.id!r} is read but neither defined nor allowed")

    def attribute_name(self, node: ast.AST, attr: str) -> None:
        """An attribute on a value (not an import): any name without a leading underscore
        (``self.open`` is a submodule named after a layer, not the builtin)."""
        if not _IDENTIFIER.match(attr):
            self.fail(node, f"{attr!r} is not an ASCII identifier")
        if attr.startswith("_"):
            self.fail(node, f"attribute {attr!r} starts with '_'")

    def expr(self, node: ast.expr, *, name_position: bool = False) -> None:
        self.kind(node)
        if isinstance(node, ast.Constant):
            self.constant(node, annotation=False, name_position=name_position)
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.BinOp):
            self.kind(node.op)
            self.expr(node.left, name_position=name_position)
            self.expr(node.right, name_position=name_position)
        elif isinstance(node, ast.UnaryOp):
            self.kind(node.op)
            self.expr(node.operand)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                self.kind(op)
            for operand in [node.left, *node.comparators]:
                self.expr(operand)
        elif isinstance(node, ast.IfExp):
            for part in (node.test, node.body, node.orelse):
                self.expr(part)
        elif isinstance(node, ast.Subscript):
            self.expr(node.value)
            self.expr(node.slice)
        elif isinstance(node, ast.Slice):
            for bound in (node.lower, node.upper, node.step):
                if bound is not None:
                    self.expr(bound)
        elif isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                self.expr(element)
        elif isinstance(node, ast.Starred):
            self.expr(node.value)
        else:
            self.fail(node, "expression not emitted here")

    def attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted is not None and dotted.split(".")[0] in self.imported:
            if dotted not in self.policy.paths:
                self.fail(node, f"{dotted!r} is not an allowed name")
            return
        self.attribute_name(node, node.attr)
        self.expr(node.value)

    def call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self.name(func)
            if func.id not in self.defined and func.id not in self.policy.calls:
                self.fail(node, f"calls {func.id!r}, which is neither defined nor allowed")
        elif isinstance(func, ast.Attribute):
            dotted = _dotted(func)
            if dotted is not None and dotted.split(".")[0] in self.imported:
                self.attribute(func)
            elif isinstance(func.value, ast.Name) and func.value.id == "self":
                if func.attr not in self.self_attrs and func.attr not in self.policy.self_methods:
                    self.fail(node, f"calls self.{func.attr}, which is never assigned")
                self.attribute(func)
            elif _is_super_call(func.value):
                if func.attr not in {"__init__", "forward"}:
                    self.fail(node, f"calls super().{func.attr}")
                self.call(func.value)
            else:
                if func.attr not in self.policy.methods:
                    self.fail(node, f"calls the method {func.attr!r}")
                self.attribute(func)
        elif isinstance(func, ast.Call):
            # Keras' functional API: a layer built and applied, ``layers.Dense(...)(x)``.
            inner = _dotted(func.func)
            if inner is None or inner.split(".")[0] not in self.imported:
                self.fail(node, "only a framework layer's instance is called in place")
            self.call(func)
        else:
            self.fail(node, f"calls a {type(func).__name__}")
        for argument in node.args:
            self.expr(argument)
        for keyword in node.keywords:
            if keyword.arg is None:
                self.fail(keyword.value, "** arguments are not emitted")
            self.identifier(keyword.value, keyword.arg)
            self.expr(keyword.value, name_position=keyword.arg == "name")
