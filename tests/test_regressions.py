"""Inputs that once broke specgen (found by the differential and robustness runs of
issue 8), each pinned through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

BIG_STRIDE = 2**31 - 1


def _specgen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write(tmp_path: Path, layers: list[dict[str, object]], shape: list[int]) -> Path:
    spec = {"specgen": 1, "name": "t", "input": {"shape": shape}, "layers": layers}
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _reject_constant(name: str) -> object:
    raise AssertionError(f"not JSON: {name}")


def test_receptive_field_of_huge_strides_is_exact_not_an_overflow(tmp_path: Path) -> None:
    """35 strides of 2**31 - 1 make a jump of ~2**1085: floats overflowed (exit 3) and
    `summary --format json` printed -Infinity. The arithmetic is exact now."""
    pool = {"type": "max_pool2d", "pool_size": 1, "stride": BIG_STRIDE}
    path = _write(tmp_path, [dict(pool) for _ in range(35)], [1, 1, 1])
    assert _specgen("validate", path).returncode == 0
    done = _specgen("summary", "--format", "json", path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout, parse_constant=_reject_constant)
    field = payload["layers"][-1]["receptive_field"]
    assert field["jump"] == [BIG_STRIDE**35] * 2
    assert field["size"] == [1, 1]


def test_padding_after_huge_strides_gives_a_finite_exact_start(tmp_path: Path) -> None:
    pool = {"type": "max_pool2d", "pool_size": 1, "stride": BIG_STRIDE}
    layers = [dict(pool) for _ in range(33)] + [{"type": "zero_padding2d", "padding": 1}]
    path = _write(tmp_path, layers, [1, 1, 1])
    done = _specgen("summary", "--format", "json", path)
    assert done.returncode == 0, done.stderr
    field = json.loads(done.stdout, parse_constant=_reject_constant)["layers"][-1]
    assert field["receptive_field"]["start"] == [-(BIG_STRIDE**33)] * 2
    text = _specgen("summary", path)
    assert text.returncode == 0 and f"-{BIG_STRIDE**33}" in text.stdout
    assert "inf" not in text.stdout.lower()


def test_yaml_equals_sign_is_a_string_not_a_tag(tmp_path: Path) -> None:
    """YAML 1.2 core reads a plain `=` as a string; PyYAML's 1.1 resolver gave it the
    'value' tag, reported as an unsupported tag (SG004) though no tag was written."""
    path = tmp_path / "net.yaml"
    path.write_text(
        "specgen: 1\nname: t\ninput: {shape: [4]}\nlayers:\n  - {type: dense, units: 2, name: =}\n",
        encoding="utf-8",
    )
    done = _specgen("validate", path)
    assert done.returncode == 1
    assert "net.yaml:5:35: error[SG104]" in done.stderr
    assert "SG004" not in done.stderr


def test_yaml_1_1_scalars_are_plain_strings(tmp_path: Path) -> None:
    """`yes` is not a bool and `<<` is not a merge key in YAML 1.2: a type error and
    an unknown key, each at its own position."""
    path = tmp_path / "net.yaml"
    path.write_text(
        "specgen: 1\nname: t\ninput: {shape: [4]}\nlayers:\n"
        "  - {type: dense, units: 2, use_bias: yes, <<: 1}\n",
        encoding="utf-8",
    )
    done = _specgen("validate", path)
    assert done.returncode == 1
    assert "net.yaml:5:39: error[SG103]" in done.stderr
    assert "net.yaml:5:44: error[SG102]" in done.stderr
