"""benchmarks/run.py: its Markdown comes from its JSON alone, and the harness really runs.

The committed benchmarks/results.json is rendered by `render_markdown` (what the README
embeds): the text must be the same every time and hold every goal and every row of every
section. Then the harness itself runs, through its real command line, on the cheap
sections at ``--quick`` sizes, and its JSON must hold what `render_markdown` reads. No
figure is asserted: times are measured by the benchmark, never by the tests.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
RESULTS = ROOT / "benchmarks" / "results.json"

ROW_KEYS = {"key", "label", "command", "rounds", "median_s", "min_s", "max_s", "peak_kib"}
GOAL_KEYS = {"label", "metric", "subject", "value", "unit", "op", "limit", "met"}


@pytest.fixture(scope="module")
def run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, Any]:
    results: dict[str, Any] = json.loads(RESULTS.read_text(encoding="utf-8"))
    return results


def test_render_markdown_is_deterministic(run_module: ModuleType) -> None:
    first = run_module.render_markdown(committed())
    assert first == run_module.render_markdown(committed())
    assert first.endswith("\n")


def test_committed_results_cover_every_section(run_module: ModuleType) -> None:
    assert [s["name"] for s in committed()["sections"]] == list(run_module.SECTIONS)


def test_render_markdown_holds_every_row_ratio_and_goal(run_module: ModuleType) -> None:
    results = committed()
    text = run_module.render_markdown(results)
    goals = [goal for section in results["sections"] for goal in section["goals"]]
    assert goals
    for section in results["sections"]:
        assert f"### {section['number']}. {section['title']}" in text
        assert section["rows"]
        for row in section["rows"]:
            assert row["label"] in text
        for ratio in section["ratios"]:
            assert ratio["label"] in text
    for goal in goals:
        verdict = "met" if goal["met"] else "not met"
        assert any(
            goal["label"] in line and line.rstrip(" |").endswith(f"| {verdict}")
            for line in text.splitlines()
        ), goal["label"]
    met = sum(goal["met"] for goal in goals)
    assert f"### Goals: {met} of {len(goals)} met" in text


def test_render_markdown_follows_the_figures(run_module: ModuleType) -> None:
    """The text is rendered from the JSON, not stored in it: a changed figure shows."""
    results = committed()
    row = results["sections"][0]["rows"][0]
    row["median_s"] = 123.456
    assert "123.456 s" in run_module.render_markdown(results)


def test_quick_run_writes_what_render_markdown_reads(
    run_module: ModuleType, tmp_path: Path
) -> None:
    out_json, out_md = tmp_path / "results.json", tmp_path / "results.md"
    options = ["--quick", "--only", "many", "3", "--json", str(out_json), "--markdown", str(out_md)]
    done = subprocess.run(
        [sys.executable, str(RUN), *options],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out_json.read_text(encoding="utf-8"))
    reference = committed()
    assert set(results) == set(reference)
    assert set(results["machine"]) == set(reference["machine"])
    assert results["quick"] is True
    assert results["rounds"] == 1
    assert [s["name"] for s in results["sections"]] == ["many", "deep"]
    reference_sections = {s["name"]: s for s in reference["sections"]}
    for section in results["sections"]:
        assert set(section) == set(reference_sections[section["name"]])
        for row in section["rows"]:
            assert set(row) >= ROW_KEYS
            assert row["rounds"] == 1 and len(row["samples_s"]) == 1
            assert row["peak_kib"] > 0
        assert section["goals"]
        for goal in section["goals"]:
            assert set(goal) == GOAL_KEYS
    deep = results["sections"][1]
    assert {row["layers"] for row in deep["rows"]} == {10, 100, 1_000}
    assert all("per_layer_us" in row for row in deep["rows"])
    text = run_module.render_markdown(results)
    assert out_md.read_text(encoding="utf-8") == text
    assert text in done.stdout


def test_the_readme_shows_what_results_json_renders(run_module: ModuleType) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- benchmark-table -->\n", 1)[1].split("<!-- /benchmark-table -->")[0]
    assert shown == run_module.render_markdown(committed())
    assert (ROOT / "benchmarks" / "results.md").read_text(encoding="utf-8") == shown
