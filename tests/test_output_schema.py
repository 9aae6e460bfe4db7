"""The JSON that `validate --format json` and `summary --format json` print is described by
versioned JSON Schemas shipped in the package (specgen/schemas); real output of the whole
corpus must validate against them, so the description cannot drift from the program."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from specgen.diagnostics import CODES
from specgen.report import JSON_FORMAT_VERSION

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = (".json", ".yaml", ".yml")
SPECS = sorted(
    p
    for p in (ROOT / "specs").rglob("*")
    if p.suffix in SUFFIXES and not p.name.endswith(".schema.json")  # the spec schema
)
CASES = sorted(p for p in (ROOT / "tests" / "cases").glob("*") if p.suffix in SUFFIXES)
INVALID = sorted(p for p in (ROOT / "tests" / "invalid").rglob("*") if p.suffix in SUFFIXES)
# Hostile files with findings far from home: no position, cut messages, thousands of them.
HOSTILE = [
    ROOT / "tests" / "hostile" / name
    for name in (
        "too_large.yaml",
        "long_key.json",
        "long_block_cycle.json",
        "broken_references.json",
    )
]


def _schema(name: str) -> dict[str, Any]:
    text = (resources.files("specgen") / "schemas" / f"{name}-output-v1.schema.json").read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


def _specgen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _errors(schema: dict[str, Any], payload: Any) -> list[str]:
    validator = Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(payload)][:5]


def test_the_schemas_are_the_version_specgen_writes() -> None:
    for name in ("validate", "summary"):
        schema = _schema(name)
        assert schema["properties"]["version"]["const"] == JSON_FORMAT_VERSION
        assert schema["$id"] == f"urn:specgen:output:{name}:{JSON_FORMAT_VERSION}"


@pytest.mark.parametrize(
    ("label", "files", "flags"),
    [
        ("specs", SPECS, ["--strict"]),
        ("invalid corpus", INVALID, ["--strict"]),
        ("hostile", HOSTILE, []),
        (
            "keras target",
            sorted((ROOT / "tests" / "invalid" / "targets").glob("*.yaml")),
            ["--target", "keras"],
        ),
    ],
)
def test_validate_output_matches_its_schema(
    label: str, files: list[Path], flags: list[str]
) -> None:
    done = _specgen("validate", "--format", "json", *flags, *files)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    payload = json.loads(done.stdout)
    assert len(payload["files"]) == len(files)
    assert _errors(_schema("validate"), payload) == []
    codes = {d["code"] for f in payload["files"] for d in f["diagnostics"]}
    assert codes <= set(CODES)
    if label == "invalid corpus":  # every code appears, so every field's form is covered
        # Target findings need --target; the config's codes (SG008, SG009) stop the run.
        assert codes == set(CODES) - {"SG303", "SG304", "SG401", "SG008", "SG009"}


def test_validate_output_of_a_wrong_document_fails_the_schema() -> None:
    """The schema is not vacuous: a finding without its code, or an extra field, fails."""
    done = _specgen("validate", "--format", "json", INVALID[0])
    payload = json.loads(done.stdout)
    schema = _schema("validate")
    assert _errors(schema, payload) == []
    broken = json.loads(done.stdout)
    del broken["files"][0]["diagnostics"][0]["code"]
    assert _errors(schema, broken)
    extra = json.loads(done.stdout)
    extra["files"][0]["surprise"] = 1
    assert _errors(schema, extra)


@pytest.mark.parametrize("path", [*SPECS, *CASES], ids=lambda p: p.name)
def test_summary_output_matches_its_schema(path: Path) -> None:
    done = _specgen("summary", "--format", "json", path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _errors(_schema("summary"), json.loads(done.stdout)) == []
