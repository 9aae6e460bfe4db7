"""``specgen diagram``: Mermaid and DOT that say what the graph says, and labels no spec
can break out of.

The Mermaid CLI is not installed here, so each Mermaid line is checked against a small
grammar of the flowchart statements specgen writes; DOT is checked by Graphviz's real
``dot``, which CI installs (a missing ``dot`` fails these tests: nothing is skipped).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

import specgen.cli
from specgen.check import check_file
from specgen.diagram import dot, dot_text, mermaid, mermaid_text, svg
from specgen.graph import Graph

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT / "specs" / "cifar10_cnn.yaml"
RESNET = ROOT / "specs" / "resnet20_cifar.yaml"
NESTED = ROOT / "tests" / "cases" / "block_nested.yaml"
HEAVY = ("tensorflow", "torch", "keras", "jinja2")

BAD_SPEC = """\
specgen: 1
name: bad
input: {shape: [4, 4, 3]}
layers:
  - {type: conv2d, filters: 4, kernel_size: 5}
"""

# Legal but awkward: names that are keywords of Mermaid or DOT (`end`, `subgraph`,
# `graph`, `node`, `edge`, `style`), Mermaid's edge letters (`o`, `x`), underscores and
# digits, a block and an instance named like statements, a branch and a merge.
AWKWARD_SPEC = """\
specgen: 1
name: digraph
input: {shape: [8, 8, 3]}
blocks:
  subgraph:
    layers:
      - {name: end, type: conv2d, filters: 4, kernel_size: 3, padding: same}
      - {name: o, type: activation, activation: relu}
layers:
  - {block: subgraph, name: end_}
  - {name: x, type: conv2d, inputs: [input], filters: 4, kernel_size: 1}
  - {name: a_1, type: add, inputs: [end__o, x]}
  - {name: _, type: activation, activation: leaky_relu}
  - {name: graph, type: flatten}
  - {name: node, type: dense, units: 2}
  - {name: edge, type: dense, units: 3, inputs: [graph]}
  - {name: style, type: concatenate, inputs: [node, edge]}
outputs: [style, node]
"""

# The Mermaid flowchart statements specgen writes, as a grammar (Mermaid's own is a
# superset): label text is plain characters, entity codes (#60;) and <br/> only.
LABEL = r'"(?:[A-Za-z0-9_ .,=+\-:()]|\#[0-9]+;|<br/>)*"'
MERMAID_LINE = re.compile(
    rf"""
    (?P<header>flowchart\ TB)
    | \s*(?P<node>n[0-9]+)\[(?P<label>{LABEL})\]
    | \s*(?P<src>n[0-9]+)\ -->\|(?P<shape>{LABEL})\|\ (?P<dst>n[0-9]+)
    | \s*subgraph\ (?P<subgraph>sg[0-9]+)\ \[{LABEL}\]
    | \s*(?P<end>end)
    | \s*classDef\ [a-z]+\ [a-z]+:\#[0-9a-f]{{3,6}}(?:,[a-z]+:\#[0-9a-f]{{3,6}})*
    | \s*class\ n[0-9]+(?:,n[0-9]+)*\ [a-z]+
    """,
    re.VERBOSE,
)


def graph_of(path: Path) -> Graph:
    result = check_file(path)
    assert result.graph is not None, result.report.diagnostics
    return result.graph


def instances(graph: Graph) -> set[tuple[str, ...]]:
    """Every block instance, by its chain of instance names (outermost first)."""
    found = set()
    for node in graph:
        uses = node.origin.uses if node.origin is not None else ()
        for depth in range(len(uses)):
            found.add(tuple(u.instance for u in uses[: depth + 1]))
    return found


def expected_edges(graph: Graph) -> Counter[tuple[str, str, str]]:
    """(from, to, shape) per layer input, and per model output (to 'output' or its name)."""
    edges: Counter[tuple[str, str, str]] = Counter()
    for node in graph:
        for name in node.inputs:
            edges[(name, node.name, "x".join(map(str, graph.nodes[name].output)))] += 1
    several = len(graph.output_nodes) > 1
    for out in graph.output_nodes:
        source = graph.nodes[out.inputs[0]]
        target = out.name if several else "output"
        edges[(source.name, target, "x".join(map(str, source.output)))] += 1
    return edges


def parse_mermaid(text: str, graph: Graph) -> tuple[dict[str, str], Counter[tuple[str, ...]]]:
    """Check every line against the grammar and the subgraph nesting; return the node
    names by id and the edges (from name, to name, shape)."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    names: dict[str, str] = {}
    edges: Counter[tuple[str, ...]] = Counter()
    depth = max_depth = subgraphs = 0
    for line in lines:
        match = MERMAID_LINE.fullmatch(line)
        assert match, f"not a statement of the allowed grammar: {line!r}"
        if match["node"]:
            assert match["node"] not in names, f"node defined twice: {line!r}"
            names[match["node"]] = match["label"][1:-1].split("<br/>")[0]
        elif match["src"]:
            edges[(names[match["src"]], names[match["dst"]], match["shape"][1:-1])] += 1
        elif match["subgraph"]:
            depth += 1
            subgraphs += 1
            max_depth = max(max_depth, depth)
        elif match["end"]:
            depth -= 1
            assert depth >= 0, "an `end` without a subgraph"
    assert depth == 0, "a subgraph is not closed"
    assert subgraphs == len(instances(graph))
    assert max_depth == max((len(i) for i in instances(graph)), default=0)
    return names, edges


@pytest.mark.parametrize("path", [CIFAR, RESNET, NESTED], ids=["chain", "resnet20", "nested"])
def test_mermaid_draws_the_graph(path: Path) -> None:
    graph = graph_of(path)
    names, edges = parse_mermaid(mermaid(graph), graph)
    layer_names = [n.name for n in graph.layers()]
    assert set(layer_names) <= set(names.values())
    assert len(names) == len(layer_names) + 1 + len(graph.output_nodes)
    assert edges == expected_edges(graph)
    assert sum(edges.values()) == sum(len(n.inputs) for n in graph.layers()) + len(
        graph.output_nodes
    )


def test_resnet_branches_are_drawn_as_branches() -> None:
    graph = graph_of(RESNET)
    _, edges = parse_mermaid(mermaid(graph), graph)
    # The identity shortcut goes from the stem straight to the first add, and the
    # projection from stage1_3's output to stage2_1's 1x1 conv: not a chain.
    assert edges[("stem_relu", "stage1_1_add", "32x32x16")] == 1
    assert edges[("stage1_3_relu2", "stage2_1_proj", "32x32x16")] == 1
    assert len(instances(graph)) == 9


def test_mermaid_labels_carry_key_arguments() -> None:
    text = mermaid(graph_of(RESNET))
    assert "stem_conv<br/>conv2d(filters=16, kernel_size=3x3, padding=same)" in text
    assert "stage2_1_conv1<br/>conv2d(filters=32, kernel_size=3x3, stride=2x2, padding=same)" in (
        text
    )
    assert "stage1_1_add<br/>add" in text
    assert "fc<br/>dense(units=10, softmax)" in text
    assert 'subgraph sg0 ["stage1_1 (block basic)"]' in text


def dot_program() -> str:
    program = shutil.which("dot")
    assert program is not None, (
        "Graphviz's `dot` is not installed: CI must install graphviz (apt-get install -y "
        "graphviz) for the diagram tests"
    )
    return program


def svg_texts(source: str) -> tuple[ET.Element, str]:
    root = ET.fromstring(source)
    return root, "\n".join(t for e in root.iter() for t in (e.text, e.tail) if t)


@pytest.mark.parametrize("path", [CIFAR, RESNET, NESTED], ids=["chain", "resnet20", "nested"])
def test_dot_is_accepted_by_graphviz(path: Path) -> None:
    graph = graph_of(path)
    text = dot(graph)
    assert text.count(" -> ") == sum(len(n.inputs) for n in graph.layers()) + len(
        graph.output_nodes
    )
    assert text.count("subgraph cluster_") == len(instances(graph))
    done = subprocess.run(
        [dot_program(), "-Tsvg"], input=text, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not even a warning
    root, texts = svg_texts(done.stdout)
    assert root.tag.endswith("svg")
    for node in graph.layers():
        assert node.name in texts


def test_svg_for_cifar(capsys: pytest.CaptureFixture[str]) -> None:
    dot_program()
    with pytest.raises(SystemExit) as exit_:
        specgen.cli.main(["diagram", str(CIFAR), "--format", "svg"])
    assert exit_.value.code == 0
    root, texts = svg_texts(capsys.readouterr().out)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    for node in graph_of(CIFAR).layers():
        assert node.name in texts
    assert "conv2d(filters=32, kernel_size=3x3, relu)" in texts
    assert "30x30x32" in texts


def test_awkward_names(tmp_path: Path) -> None:
    spec = tmp_path / "awkward.yaml"
    spec.write_text(AWKWARD_SPEC, encoding="utf-8")
    graph = graph_of(spec)
    names, edges = parse_mermaid(mermaid(graph), graph)
    assert {"end__end", "end__o", "x", "a_1", "_", "graph", "node", "edge", "style"} <= set(
        names.values()
    )
    assert edges == expected_edges(graph)
    assert {"output_0", "output_1"} <= set(names.values())
    _, texts = svg_texts(svg(dot(graph), dot_program()))
    for node in graph.layers():
        assert node.name in texts
    assert "end_ (block subgraph)" in texts
    assert "digraph" in texts  # the model name is the graph's title


HOSTILE = ['"', "\\", "<script>", "]", "|", "#", "\n", ";", "\r", "\x00", "\u202e", "`", "{}"]


@pytest.mark.parametrize("text", [*HOSTILE, "".join(HOSTILE), 'a"]; n1 --> n2; x["'])
def test_mermaid_text_cannot_close_a_label(text: str) -> None:
    escaped = mermaid_text(text)
    assert re.fullmatch(r"(?:[A-Za-z0-9_ .,=+\-:()]|#[0-9]+;)*", escaped), escaped
    node = MERMAID_LINE.fullmatch(f'n0["{escaped}"]')
    assert node is not None and node["label"] == f'"{escaped}"'
    edge = MERMAID_LINE.fullmatch(f'n0 -->|"{escaped}"| n1')
    assert edge is not None and edge["shape"] == f'"{escaped}"'


@pytest.mark.parametrize("text", [*HOSTILE, "".join(HOSTILE), 'a"]; b -> c; d [label="'])
def test_dot_text_cannot_close_a_label(text: str) -> None:
    escaped = dot_text(text)
    # Inside a DOT string only `\"` or the closing quote could end it; neither is left:
    # plain characters, character references and doubled backslashes only.
    assert re.fullmatch(r"(?:[A-Za-z0-9_ .,=+\-:()]|&#[0-9]+;|\\\\)*", escaped), escaped
    graph = f'digraph g {{ a [label="{escaped}"]; }}'
    done = subprocess.run(
        [dot_program(), "-Tsvg"], input=graph, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    _, texts = svg_texts(done.stdout)
    shown = "".join(c if c.isprintable() and c != "\u202e" else "\ufffd" for c in text)
    assert shown.replace("\n", "\ufffd") in texts  # Graphviz shows the text, literally


def test_every_character_is_escaped_safely() -> None:
    for code in [*range(0x3000), 0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x1F600, 0x10FFFF]:
        char = chr(code)
        assert re.fullmatch(r"(?:[A-Za-z0-9_ .,=+\-:()]|#[0-9]+;)", mermaid_text(char))
        assert re.fullmatch(r"[A-Za-z0-9_ .,=+\-:()]|&#[0-9]+;|\\\\", dot_text(char))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    with pytest.raises(SystemExit) as exit_:
        specgen.cli.main(argv)
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_svg_without_dot_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    code, out, err = run(["diagram", str(CIFAR), "--format", "svg"], capsys)
    assert code == 2
    assert out == ""
    assert err == (
        "specgen: error: --format svg needs Graphviz's 'dot' program (apt-get install "
        "graphviz, brew install graphviz); --format dot prints the graph for it\n"
    )
    # The other formats need no Graphviz.
    code, out, err = run(["diagram", str(CIFAR), "--format", "dot"], capsys)
    assert code == 0 and out.startswith("digraph specgen {")


def test_svg_without_dot_on_path(tmp_path: Path) -> None:
    """The real program, with a PATH that holds no `dot`."""
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "specgen", "diagram", str(CIFAR), "--format", "svg"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": str(empty)},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "specgen: error: --format svg needs Graphviz's 'dot' program (apt-get install "
        "graphviz, brew install graphviz); --format dot prints the graph for it"
    ]


def test_dot_failure_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: <stdin>: syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: str(fake))
    out_file = tmp_path / "net.svg"
    code, out, err = run(["diagram", str(CIFAR), "--format", "svg", "-o", str(out_file)], capsys)
    assert code == 2
    assert out == ""
    assert err == (
        "specgen: error: Graphviz's dot failed: Error: <stdin>: syntax error in line 1\n"
    )
    assert not out_file.exists()


@pytest.mark.parametrize("output_format", ["mermaid", "dot", "svg"])
def test_out_writes_the_file(
    output_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if output_format == "svg":
        dot_program()
    target = tmp_path / f"net.{output_format}"
    code, out, err = run(
        ["diagram", str(CIFAR), "--format", output_format, "-o", str(target)], capsys
    )
    assert (code, out, err) == (0, "", "")
    code, printed, _ = run(["diagram", str(CIFAR), "--format", output_format], capsys)
    assert code == 0
    assert target.read_text(encoding="utf-8") == printed
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left


def test_default_format_is_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["diagram", str(CIFAR)], capsys)
    assert code == 0
    assert out == mermaid(graph_of(CIFAR))


def test_a_spec_with_errors_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SPEC, encoding="utf-8")
    target = tmp_path / "bad.mmd"
    code, out, err = run(["diagram", str(bad), "-o", str(target)], capsys)
    assert code == 1
    assert out == ""
    assert "error[SG2" in err
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_out_to_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["diagram", str(CIFAR), "-o", str(tmp_path)], capsys)
    assert code == 2
    assert "not a regular file" in err


def test_diagram_reads_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "specgen", "diagram", "-", "--stdin-filename", "net.yaml"],
        input=CIFAR.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == mermaid(graph_of(CIFAR))


IMPORT_CHECK = textwrap.dedent(
    """
    import json, sys
    import specgen.cli
    codes = []
    for argv in json.loads(sys.argv[1]):
        try:
            specgen.cli.main(argv)
        except SystemExit as exit_:
            codes.append(exit_.code)
    sys.stdout.flush()
    print("\\n" + json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
    """
)


def test_diagram_imports_no_framework(tmp_path: Path) -> None:
    """In a fresh interpreter: this process has long since imported the frameworks."""
    commands = [
        ["diagram", str(RESNET)],
        ["diagram", str(RESNET), "--format", "dot"],
        ["diagram", str(CIFAR), "--format", "svg", "-o", str(tmp_path / "net.svg")],
        ["diagram", str(CIFAR), "-o", str(tmp_path / "net.mmd")],
    ]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, json.dumps(commands)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["codes"] == [0, 0, 0 if shutil.which("dot") else 2, 0]
    assert "specgen.diagram" in result["modules"]
    assert [m for m in result["modules"] if m.split(".")[0] in HEAVY] == []
