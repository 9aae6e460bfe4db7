"""The README is part of the contract: its code table, Quick start and hook file stay true."""

from __future__ import annotations

import os
import re
from pathlib import Path

from specgen.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_diagnostic_code() -> None:
    table = dict(re.findall(r"^\| `(SG\d{3})` \| (.+) \|$", README, flags=re.MULTILINE))
    assert table == CODES


def test_quick_start_is_two_copy_paste_lines() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.DOTALL)
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    install_and_run, test = commands
    assert "pip install -e ." in install_and_run
    assert re.search(r"specgen (summary|validate) specs/\S+", install_and_run)
    assert '".[test]"' in test and "-c .ci/constraints.txt" in test and "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    marked = README.split("<!-- test-command -->", 1)[1].split("<!-- /test-command -->")[0]
    assert "pytest" in marked
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in ci and 'bash -c "set -euo pipefail; $command"' in ci


def test_constraints_pin_the_cpu_torch_while_the_package_keeps_a_range() -> None:
    pins = (ROOT / ".ci" / "constraints.txt").read_text(encoding="utf-8")
    assert re.search(r"^torch==2\.13\.0$", pins, flags=re.MULTILINE)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"torch>=[\d.]+"', pyproject)
    base = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    for heavy in ("torch", "tensorflow", "keras"):
        assert heavy not in base


def test_readme_shows_the_emitted_code_that_specgen_really_emits() -> None:
    for target in ("keras", "pytorch"):
        golden = (ROOT / "tests" / "golden" / f"cifar10_cnn.{target}.py").read_text("utf-8")
        marker = f"$ specgen emit specs/cifar10_cnn.yaml --target {target}\n```\n\n```python\n"
        shown = README.split(marker, 1)[1].split("\n```", 1)[0]
        assert shown + "\n" == golden


def test_readme_summary_is_what_summary_prints() -> None:
    import subprocess
    import sys

    shown = README.split("$ specgen summary specs/cifar10_cnn.yaml\n", 1)[1].split("\n```")[0]
    run = subprocess.run(
        [sys.executable, "-m", "specgen", "summary", "specs/cifar10_cnn.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0
    assert run.stdout.rstrip("\n") == shown


def test_the_distribution_is_specgen_cnn_with_user_extras() -> None:
    """`specgen` on PyPI is an unrelated project: the distribution is specgen-cnn, the
    package and the command stay specgen, and users get the frameworks as extras."""
    import tomllib

    import specgen

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "specgen-cnn"
    assert project["scripts"] == {"specgen": "specgen.cli:main"}
    assert project["version"] == specgen.__version__
    extras = project["optional-dependencies"]
    names = {extra: {r.split(">")[0].split("=")[0] for r in extras[extra]} for extra in extras}
    assert names["keras"] == {"tensorflow", "keras"}
    assert names["torch"] == {"torch"}
    assert names["all"] == names["keras"] | names["torch"]
    # The tests run what users install: every framework requirement, the same ranges.
    assert set(extras["all"]) <= set(extras["test"])
    assert (
        "pip install specgen-cnn" in README
        and '"specgen-cnn[all]"' not in README.split("## Installing")[0]
    )
    assert "`specgen-cnn[all]`" in README


def test_readme_diagram_is_what_specgen_draws() -> None:
    """The README's Mermaid block is `specgen diagram specs/cifar10_cnn.yaml`, and the
    embedded SVG of a branching network is well-formed and names every layer of it."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ElementTree

    from specgen.check import check_file

    shown = README.split("```mermaid\n", 1)[1].split("```", 1)[0]
    drawn = subprocess.run(
        [sys.executable, "-m", "specgen", "diagram", "specs/cifar10_cnn.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    ).stdout
    assert shown == drawn
    assert "](docs/resnet20_cifar.svg)" in README
    svg = (ROOT / "docs" / "resnet20_cifar.svg").read_text(encoding="utf-8")
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    graph = check_file(ROOT / "specs" / "resnet20_cifar.yaml").graph
    assert graph is not None
    assert {node.name for node in graph.layers()} <= texts
    assert sum(len(node.inputs) for node in graph.layers()) > len(list(graph.layers()))  # branches


def test_readme_python_api_examples_run() -> None:
    """Every Python block of the README's "Python API" section runs, in order, in one
    fresh interpreter from the repository root, and prints what its comments say."""
    import subprocess
    import sys

    section = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)\n```", section, flags=re.DOTALL)
    assert len(blocks) == 3
    program = (
        "\n\n".join(blocks)
        + "\nprint('weights moved:', sum(p.numel() for p in torch_model.parameters()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "122570"
    assert lines[1].startswith("conv2d_1 conv2d (30, 30, 32) 896")
    assert "False" in lines and any(line.startswith("SG201 ") for line in lines)
    assert any(line.startswith("tiny.yaml: 1 error(s): SG201") for line in lines)
    assert lines[-1] == "weights moved: 122570"
