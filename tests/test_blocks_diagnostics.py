"""Diagnostics of expanded blocks as users see them: the real CLI's text and JSON output
for a mistake inside a block used three times, and the refusal of an expansion bomb.

The file names are given relative to the project root (the subprocess runs there), so the
paths in the output are exactly the ones written below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from specgen.check import check_file

ROOT = Path(__file__).resolve().parent.parent
INSIDE = "tests/invalid/block_error_inside_instance.yaml"
BOMB = "tests/invalid/block_expansion_bomb.yaml"


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", "validate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_mistake_inside_a_block_used_three_times_is_reported_once_with_notes() -> None:
    # `kernal_size` in the block 'basic' (line 9), used as stage_1..stage_3 at line 12.
    run = validate(INSIDE)
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        f"{INSIDE}:9:55: error[SG102]: layer 'stage_1_conv' (conv2d): unknown key "
        "'kernal_size' [$.blocks.basic.layers[0].kernal_size]",
        "  hint: did you mean 'kernel_size'?",
        f"  note: in block 'basic' used as 'stage_1' at {INSIDE}:12:5",
        "  note: the same in 2 more instances",
        "specgen: 1 file checked, 1 failed: 1 error(s), 0 warning(s)",
    ]


def test_mistake_inside_a_block_as_json_lists_the_notes() -> None:
    run = validate("--format", "json", INSIDE)
    assert run.returncode == 1, run.stderr
    payload = json.loads(run.stdout)
    assert payload["errors"] == 1
    assert payload["warnings"] == 0
    [file] = payload["files"]
    assert file["path"] == INSIDE
    assert file["valid"] is False
    assert file["diagnostics"] == [
        {
            "path": INSIDE,
            "line": 9,
            "column": 55,
            "json_path": "$.blocks.basic.layers[0].kernal_size",
            "code": "SG102",
            "severity": "error",
            "message": "layer 'stage_1_conv' (conv2d): unknown key 'kernal_size'",
            "hint": "did you mean 'kernel_size'?",
            "notes": [
                f"in block 'basic' used as 'stage_1' at {INSIDE}:12:5",
                "the same in 2 more instances",
            ],
            "allowed": False,
        }
    ]


def test_expansion_bomb_is_refused_quickly() -> None:
    # 1000**4 layers on paper: refused from the definitions alone, nothing is unrolled
    # (tests/hostile/block_bomb.yaml and benchmarks/hostile.py time it).
    result = check_file(ROOT / BOMB)
    assert [d.code for d in result.report.diagnostics] == ["SG114"]
    assert result.graph is None and result.expansion is not None
    assert result.expansion.document is None  # no flat spec was built

    run = validate(BOMB)
    assert run.returncode == 1, run.stderr
    assert f"{BOMB}:19:5: error[SG114]: " in run.stderr
