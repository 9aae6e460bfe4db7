"""`validate`, `summary` and `schema` never import TensorFlow, PyTorch, Keras or Jinja.

Each check runs in a fresh interpreter: this test process has long since imported the
frameworks (other test files need them), so its own `sys.modules` proves nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT / "specs" / "cifar10_cnn.yaml"
WARNED = Path(__file__).resolve().parent / "warned" / "cifar10_cnn.yaml"  # SG301 shown
HEAVY = ("tensorflow", "torch", "keras", "jinja2")

BAD_SPEC = """\
specgen: 1
name: bad
input: {shape: [4, 4, 3]}
layers:
  - {type: conv2d, filters: 4, kernel_size: 5}
"""

SCRIPT = textwrap.dedent(
    """
    import json, sys
    commands = json.loads(sys.argv[1])
    for extra in sys.argv[2:]:
        __import__(extra)
    codes = []
    if commands is not None:
        import specgen.cli
        for argv in commands:
            try:
                specgen.cli.main(argv)
            except SystemExit as exit_:
                codes.append(exit_.code)
            else:
                codes.append("returned")
    else:
        import specgen
    sys.stdout.flush()
    print("\\n" + json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
    """
)


def loaded_modules(
    commands: list[list[str]] | None, *also_import: str
) -> tuple[list[object], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(commands), *also_import],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    return result["codes"], result["modules"]


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        pytest.param(["validate", str(CIFAR)], 0, id="validate"),
        pytest.param(["validate", "--format", "json", str(CIFAR)], 0, id="validate-json"),
        pytest.param(["validate", "--format", "github", "--strict", str(WARNED)], 1, id="github"),
        pytest.param(["summary", str(CIFAR)], 0, id="summary"),
        pytest.param(["summary", "--format", "json", str(CIFAR)], 0, id="summary-json"),
        pytest.param(["schema"], 0, id="schema"),
    ],
)
def test_command_imports_no_framework(argv: list[str], code: int) -> None:
    codes, modules = loaded_modules([argv])
    assert codes == [code]
    assert "specgen.cli" in modules  # the command really ran
    assert heavy(modules) == []


def test_all_commands_in_one_process_import_no_framework(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SPEC, encoding="utf-8")
    commands = [
        ["validate", str(CIFAR), str(bad)],
        ["summary", str(CIFAR)],
        ["summary", str(bad)],
        ["schema"],
        ["validate", str(tmp_path / "missing.yaml")],
    ]
    codes, modules = loaded_modules(commands)
    assert codes == [1, 0, 1, 0, 2]
    assert "specgen.spec" in modules and "specgen.graph" in modules
    assert heavy(modules) == []


def test_import_specgen_imports_no_framework() -> None:
    codes, modules = loaded_modules(None)
    assert codes == []
    assert "specgen" in modules
    assert heavy(modules) == []


def test_the_check_detects_a_framework_import() -> None:
    """Guard against a vacuous test: the same script does see a module that was imported."""
    codes, modules = loaded_modules([["schema"]], "jinja2")
    assert codes == [0]
    assert "jinja2" in heavy(modules)
    assert heavy(["kerastuner", "torchvisionx", "tensorflow_probability"]) == []


# The specgen modules the validate path imports: reading, expansion, schema, shape pass,
# reporting and the project config; not the typed API, the targets, emit, the diagram or
# weight transfer. A module added here must be one validate really needs (issue 10).
VALIDATE_MODULES = {
    "specgen",
    "specgen.activations",
    "specgen.check",
    "specgen.cli",
    "specgen.collector",
    "specgen.config",
    "specgen.diagnostics",
    "specgen.expand",
    "specgen.formulas",
    "specgen.graph",
    "specgen.layers",
    "specgen.limits",
    "specgen.load",
    "specgen.report",
    "specgen.spec",
    "specgen.suggest",
}
# Third-party packages it may import: the base install's, and what they bring.
VALIDATE_PACKAGES = {
    "annotated_doc",
    "annotated_types",
    "click",
    "pydantic",
    "pydantic_core",
    "shellingham",
    "typer",
    "typing_extensions",
    "typing_inspection",
    "yaml",
}


def test_the_validate_path_imports_only_what_it_needs() -> None:
    _, modules = loaded_modules([["validate", str(CIFAR)]])
    ours = {
        m for m in modules if m.split(".")[0] == "specgen" and not m.startswith("specgen.layers.")
    }
    assert ours == VALIDATE_MODULES
    third_party = {
        m.split(".")[0]
        for m in modules
        if not m.startswith("_") and m.split(".")[0] not in sys.stdlib_module_names
    } - {"specgen", "cython_runtime"}  # cython_runtime: made by any Cython extension
    assert third_party <= VALIDATE_PACKAGES, third_party - VALIDATE_PACKAGES
    assert {"pydantic", "typer", "yaml"} <= third_party
    # This checkout's pyproject.toml has no [tool.specgen]: no TOML is parsed.
    assert "tomllib" not in modules
