"""Resource limits (SG211, and SG114 for block expansion): no spec can make `emit` or the
emitted model allocate terabytes, and every bound can be moved with `--limit NAME=VALUE`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from specgen.limits import DEFAULT_LIMITS, Limits

SPECS = Path(__file__).resolve().parent.parent / "specs"

# The 120-byte spec: it validated (exit 0) before the limits existed.
TERABYTES = """\
specgen: 1
name: huge
input: {shape: [100000000, 100000000, 1]}
layers:
  - {type: flatten}
  - {type: dense, units: 100000000}
"""

WIDE_DENSE = """\
specgen: 1
name: wide
input: {shape: [1000000]}
layers:
  - {type: dense, units: 5000}
  - {type: dense, units: 1000000}
  - {type: dense, units: 10}
"""

BIG_ACTIVATIONS = """\
specgen: 1
name: big
input: {shape: [1024, 1024, 3]}
layers:
  - {type: conv2d, filters: 8, kernel_size: 3, padding: same}
  - {type: upsample2d, size: 64}
  - {type: global_avg_pool2d}
"""

MANY_MACS = """\
specgen: 1
name: macs
input: {shape: [2048, 2048, 256]}
layers:
  - {type: conv2d, filters: 256, kernel_size: 11, padding: same}
  - {type: conv2d, filters: 256, kernel_size: 11, padding: same}
  - {type: conv2d, filters: 256, kernel_size: 11, padding: same}
  - {type: conv2d, filters: 256, kernel_size: 11, padding: same}
"""

BLOCKS = """\
specgen: 1
name: blocks
input: {shape: [8, 8, 3]}
blocks:
  unit:
    params: {}
    layers:
      - {name: conv, type: conv2d, filters: 3, kernel_size: 3, padding: same}
      - {name: act, type: activation, activation: relu}
layers:
  - {block: unit, name: stage, repeat: 10}
"""


def _specgen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _findings(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [d for f in json.loads(done.stdout)["files"] for d in f["diagnostics"]]


def test_the_terabyte_spec_is_a_located_finding(tmp_path: Path) -> None:
    path = _write(tmp_path, TERABYTES)
    assert len(TERABYTES.encode()) < 130
    done = _specgen("validate", path)
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"{path}:3:16: error[SG211]: input.shape [100000000, 100000000, 1]")
    assert "over the limit of 1,048,576" in first
    assert "--limit dimension=N" in done.stderr
    # One finding, not one per layer downstream of the input.
    assert done.stderr.count("error[") == 1


@pytest.mark.parametrize(
    ("text", "line", "limit", "value"),
    [
        # 5000 * 10**6 + 5000 + 5000 * 10**6 + 10**6, at the second dense layer
        (WIDE_DENSE, 6, "params", "10,001,005,000"),
        # [65536, 65536, 8] after the upsampling
        (BIG_ACTIVATIONS, 6, "elements", "34,359,738,368"),
        # 4 convolutions of 2048 * 2048 * 256 outputs, 11 * 11 * 256 MACs each
        (MANY_MACS, 8, "macs", "133,040,906,960,896"),
    ],
)
def test_each_limit_points_at_the_layer_that_crosses_it(
    tmp_path: Path, text: str, line: int, limit: str, value: str
) -> None:
    path = _write(tmp_path, text)
    done = _specgen("validate", "--format", "json", path)
    assert done.returncode == 1, done.stderr
    [finding] = _findings(done)
    assert finding["code"] == "SG211"
    assert (finding["line"], finding["column"]) == (line, 5)
    assert value in str(finding["message"])
    assert f"--limit {limit}=N" in str(finding["hint"])


def test_raising_a_limit_accepts_the_network_and_lowering_refuses_it(tmp_path: Path) -> None:
    path = _write(tmp_path, WIDE_DENSE)
    assert _specgen("validate", "--limit", "params=1e12", path).returncode == 0
    cifar = SPECS / "cifar10_cnn.yaml"
    done = _specgen("validate", "--limit", "params=1_000", cifar)
    assert done.returncode == 1
    assert "error[SG211]" in done.stderr and "over the limit of 1,000" in done.stderr


def test_a_flat_spec_with_more_layers_than_the_limit(tmp_path: Path) -> None:
    done = _specgen("validate", "--limit", "layers=3", SPECS / "cifar10_cnn.yaml")
    assert done.returncode == 1
    assert "the spec has 8 layers, over the limit of 3" in done.stderr


def test_too_many_listed_layers_are_refused_before_they_are_checked(tmp_path: Path) -> None:
    """Past the layer limit nothing else is checked (that is what makes the limit cheap):
    one SG211 at the first layer past it, not the broken layer before it."""
    layers = ["  - {type: relu}"] + ["  - {type: activation, activation: relu}"] * 11
    path = _write(
        tmp_path, "specgen: 1\nname: n\ninput: {shape: [4]}\nlayers:\n" + "\n".join(layers)
    )
    done = _specgen("validate", "--format", "json", "--limit", "layers=10", path)
    assert done.returncode == 1
    [finding] = json.loads(done.stdout)["files"][0]["diagnostics"]
    assert (finding["code"], finding["line"], finding["json_path"]) == ("SG211", 15, "$.layers[10]")
    assert "12 layers, over the limit of 10" in finding["message"]
    # Within the limit, the broken layer is what is reported.
    done = _specgen("validate", "--format", "json", "--limit", "layers=12", path)
    codes = [d["code"] for d in json.loads(done.stdout)["files"][0]["diagnostics"]]
    assert codes == ["SG105"]  # the unknown layer type


def test_block_expansion_follows_the_layers_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, BLOCKS)
    assert _specgen("validate", path).returncode == 0
    done = _specgen("validate", "--limit", "layers=15", path)
    assert done.returncode == 1
    assert "error[SG114]" in done.stderr and "more than 15 layers" in done.stderr


def test_emit_refuses_past_a_limit_and_writes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, TERABYTES)
    out = tmp_path / "model.py"
    done = _specgen("emit", path, "--target", "pytorch", "-o", out)
    assert done.returncode == 1
    assert "error[SG211]" in done.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.yaml"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("params", "expected NAME=VALUE"),
        ("megabytes=10", "expected NAME=VALUE"),
        ("params=0", "whole number from 1 to"),
        ("params=-5", "whole number from 1 to"),
        ("params=1.5", "whole number from 1 to"),
        ("params=lots", "whole number from 1 to"),
        ("params=inf", "whole number from 1 to"),
        ("bytes=1e16", "whole number from 1 to"),  # past every machine
    ],
)
def test_a_bad_limit_is_a_usage_error(setting: str, message: str) -> None:
    done = _specgen("validate", "--limit", setting, SPECS / "cifar10_cnn.yaml")
    assert done.returncode == 2
    assert message in done.stderr
    assert "checked" not in done.stdout + done.stderr


def test_limit_values_parse_as_written() -> None:
    limits = DEFAULT_LIMITS.with_settings(["params=1e9", "macs=2_000", "dimension=7"])
    assert (limits.params, limits.macs, limits.dimension) == (10**9, 2000, 7)
    assert Limits().with_settings([]) == DEFAULT_LIMITS


def test_every_published_spec_fits_the_default_limits() -> None:
    paths = sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("zoo/*.yaml"))
    done = _specgen("validate", *paths)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["cifar10_cnn.yaml", "alexnet.json"])
def test_the_file_caps_move_too(name: str) -> None:
    path = SPECS / name
    size = path.stat().st_size
    done = _specgen("validate", "--limit", f"bytes={size - 1}", path)
    assert done.returncode == 1
    assert f"error[SG005]: file is larger than {size - 1} bytes" in done.stderr
    assert "--limit bytes=N" in done.stderr
    assert _specgen("validate", "--limit", f"bytes={size}", path).returncode == 0
    done = _specgen("validate", "--limit", "values=40", path)
    assert done.returncode == 1
    assert "error[SG005]: more than 40 values" in done.stderr
    assert "--limit values=N" in done.stderr
