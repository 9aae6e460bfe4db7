"""The typed Python API (`specgen.load`, `loads`, `summary`, `expand`, `emit`, `diagram`):
each gives exactly what its command prints, and refuses what the command refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import specgen
from specgen.check import UsageProblem

ROOT = Path(__file__).resolve().parent.parent
RESNET = ROOT / "specs" / "resnet20_cifar.yaml"
BROKEN = (
    "specgen: 1\nname: n\ninput: {shape: [4]}\n"
    "layers:\n  - {type: conv2d, filters: 2, kernel_size: 3}\n"
)


def _command(*args: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_each_function_prints_what_its_command_prints() -> None:
    net = specgen.load_spec(RESNET)
    assert net.valid(strict=True) and net.graph is not None
    for fmt in ("text", "json", "markdown"):
        assert specgen.summarize(net, fmt) + "\n" == _command("summary", "--format", fmt, RESNET)
    for fmt in ("yaml", "json"):
        assert specgen.expand_blocks(net, fmt) == _command("expand", "--format", fmt, RESNET)
    for target in ("keras", "pytorch"):
        assert specgen.generate(net, target) == _command("emit", "--target", target, RESNET)
    for fmt in ("mermaid", "dot"):
        assert specgen.draw(net, fmt) == _command("diagram", "--format", fmt, RESNET)


def test_a_spec_with_errors_raises_spec_error_with_its_findings() -> None:
    bad = specgen.load_spec_text(BROKEN, name="bad.yaml")
    assert not bad.valid() and bad.graph is None
    assert [(d.code, d.position and d.position.line) for d in bad.errors] == [("SG203", 5)]
    for call in (
        lambda: specgen.summarize(bad),
        lambda: specgen.expand_blocks(bad),
        lambda: specgen.generate(bad, "keras"),
        lambda: specgen.draw(bad),
    ):
        with pytest.raises(specgen.SpecError) as raised:
            call()
        assert raised.value.diagnostics == bad.diagnostics
        assert str(raised.value).startswith("bad.yaml: 1 error(s): SG203")


def test_what_a_target_cannot_express_raises_and_its_warnings_do_not() -> None:
    refused = specgen.load_spec_text(
        "specgen: 1\nname: n\ninput: {shape: [16, 16, 3]}\nlayers:\n"
        "  - {type: conv2d, filters: 4, kernel_size: 3, stride: 2, dilation: 2}\n",
        name="r.yaml",
    )
    assert refused.valid()
    with pytest.raises(specgen.SpecError) as raised:
        specgen.generate(refused, "keras")
    assert [d.code for d in raised.value.diagnostics] == ["SG401"]
    assert raised.value.diagnostics[0].position is not None  # located in the text
    assert "class N(nn.Module)" in specgen.generate(refused, "pytorch")
    warned = specgen.load_spec_text(
        '{"specgen": 1, "name": "w", "input": {"shape": [2, 3, 1]}, "layers": '
        '[{"type": "conv2d", "filters": 1, "kernel_size": [1, 3], "stride": [1, 4]}]}',
        name="w.json",
        target="keras",
    )
    assert [d.code for d in warned.warnings] == ["SG303"]
    assert warned.valid() and not warned.valid(strict=True)
    assert "def build_model(" in specgen.generate(warned, "keras")


def test_loads_chooses_the_syntax_by_name_or_as_told() -> None:
    text = (
        '{"specgen": 1, "name": "j", "input": {"shape": [4]}, '
        '"layers": [{"type": "dense", "units": 2}]}'
    )
    assert specgen.load_spec_text(text, name="net.json").valid()
    assert specgen.load_spec_text(text, syntax="json").valid()
    assert specgen.load_spec_text(text.encode(), name="net.yml").valid()  # JSON is YAML too
    with pytest.raises(ValueError, match="syntax"):
        specgen.load_spec_text(text, syntax="toml")  # type: ignore[arg-type]


def test_wrong_arguments_are_value_errors() -> None:
    net = specgen.load_spec(ROOT / "specs" / "lenet5.yaml")
    with pytest.raises(ValueError, match="target"):
        specgen.generate(net, "jax")
    with pytest.raises(ValueError, match="format"):
        specgen.summarize(net, "html")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="format"):
        specgen.draw(net, "svg")  # type: ignore[arg-type]
    with pytest.raises(UsageProblem):
        specgen.load_spec(ROOT / "specs" / "missing.yaml")
    limited = specgen.load_spec(ROOT / "specs" / "lenet5.yaml", limits=specgen.Limits(layers=3))
    assert [d.code for d in limited.errors] == ["SG211"]
