"""Acknowledging a warning (SPEC.md section 6): `allow: [SG301, ...]` on a layer.

An allowed warning is not printed and does not fail `--strict`; `--format json` still
lists it with ``"allowed": true``. Only warnings can be allowed; an error code, an unknown
code or a wrong type in `allow` is itself an error, at the list item.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EVERY_SPEC = sorted(
    p
    for p in SPECS.rglob("*")
    if p.suffix in (".json", ".yaml", ".yml") and not p.name.endswith(".schema.json")
)

POOL = """\
specgen: 1
name: pooled
input: {shape: [7, 7, 3]}
layers:
  - {type: max_pool2d, name: pool, pool_size: 2%s}
  - {type: flatten}
"""


def _specgen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _json(*args: str | Path) -> tuple[int, Any]:
    done = _specgen("validate", "--format", "json", *args)
    return done.returncode, json.loads(done.stdout)


def _write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_spec_in_specs_passes_strict() -> None:
    """The showcase and the zoo acknowledge the rows their pooling drops, as Keras' own
    models do: `validate --strict` passes on every file under specs/ (issue 9)."""
    assert len(EVERY_SPEC) >= 10
    done = _specgen("validate", "--strict", *EVERY_SPEC)
    assert done.returncode == 0, done.stderr
    assert "warning[" not in done.stderr
    assert f"{len(EVERY_SPEC)} files checked, 0 failed" in done.stderr


def test_an_allowed_warning_is_listed_in_json_only(tmp_path: Path) -> None:
    plain = _write(tmp_path, POOL % "", "plain.yaml")
    allowed = _write(tmp_path, POOL % ", allow: [SG301]", "allowed.yaml")
    done = _specgen("validate", "--strict", plain)
    assert done.returncode == 1 and "warning[SG301]" in done.stderr
    done = _specgen("validate", "--strict", allowed)
    assert done.returncode == 0, done.stderr
    assert "warning[SG301]" not in done.stderr
    assert "0 warning(s), 1 allowed" in done.stderr
    code, payload = _json("--strict", allowed)
    assert code == 0
    [finding] = payload["files"][0]["diagnostics"]
    assert (finding["code"], finding["allowed"], finding["line"]) == ("SG301", True, 5)
    assert (payload["warnings"], payload["allowed"]) == (0, 1)
    # GitHub annotations leave it out too.
    done = _specgen("validate", "--format", "github", "--strict", allowed)
    assert done.returncode == 0 and "::warning" not in done.stdout


def test_allow_takes_one_code_without_the_list(tmp_path: Path) -> None:
    path = _write(tmp_path, POOL % ", allow: SG301")
    assert _specgen("validate", "--strict", path).returncode == 0


def test_allow_covers_only_its_own_layer_and_code(tmp_path: Path) -> None:
    text = """\
specgen: 1
name: two
input: {shape: [7, 7, 3]}
layers:
  - {type: max_pool2d, name: first, pool_size: 2, allow: [SG301]}
  - {type: max_pool2d, name: second, pool_size: 2}
  - {type: flatten}
"""
    code, payload = _json("--strict", _write(tmp_path, text))
    assert code == 1
    found = [(d["json_path"], d["allowed"]) for d in payload["files"][0]["diagnostics"]]
    assert found == [("$.layers[0].pool_size", True), ("$.layers[1].pool_size", False)]


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        ("[SG201]", "only warnings (SG301, SG302, SG303, SG304) can be allowed"),
        ("[SG999]", "expected a warning code: SG301, SG302, SG303, SG304"),
        ("[SG301, 3]", "a warning code (string, e.g. 'SG301')"),
        ("[]", "at least 1"),
    ],
)
def test_what_allow_refuses(tmp_path: Path, allow: str, message: str) -> None:
    path = _write(tmp_path, POOL % f", allow: {allow}")
    code, payload = _json(path)
    assert code == 1
    [finding] = [d for d in payload["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert finding["code"] in ("SG103", "SG104"), finding
    assert message in finding["message"], finding["message"]
    assert finding["line"] == 5 and finding["json_path"].startswith("$.layers[0].allow")


def test_allow_inside_a_block_acknowledges_every_instance(tmp_path: Path) -> None:
    text = """\
specgen: 1
name: blocks
input: {shape: [31, 31, 3]}  # 31 -> 15 -> 7: both instances drop a row
blocks:
  down:
    layers:
      - {type: max_pool2d, name: pool, pool_size: 2, allow: [SG301]}
layers:
  - {block: down, name: d, repeat: 2}
  - {type: flatten}
"""
    code, payload = _json("--strict", _write(tmp_path, text))
    assert code == 0, payload
    found = payload["files"][0]["diagnostics"]
    assert found and all(d["allowed"] and d["code"] == "SG301" for d in found)


def test_a_target_warning_can_be_allowed(tmp_path: Path) -> None:
    """SG303 acknowledged on its layer: neither `validate --target keras --strict` nor
    `emit --target keras` prints it."""
    text = """\
specgen: 1
name: tfbug
input: {shape: [2, 3, 1]}
layers:
  - {type: conv2d, name: c, filters: 1, kernel_size: [1, 3], stride: [1, 4]%s}
"""
    warned = _write(tmp_path, text % "", "warned.yaml")
    allowed = _write(tmp_path, text % ", allow: [SG303]", "allowed.yaml")
    assert _specgen("validate", "--strict", "--target", "keras", warned).returncode == 1
    done = _specgen("validate", "--strict", "--target", "keras", allowed)
    assert done.returncode == 0 and "SG303" not in done.stderr
    done = _specgen("emit", "--target", "keras", allowed)
    assert done.returncode == 0 and done.stderr == "" and "def build_model(" in done.stdout
    done = _specgen("emit", "--target", "keras", warned)
    assert done.returncode == 0 and "warning[SG303]" in done.stderr
