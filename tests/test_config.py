"""The project config (`specgen.toml`, `[tool.specgen]`) and `emit --all [--check]`.

tests/invalid/config holds one broken config per problem, each saying in `# expect:`
lines which findings it must give and where; every config code has a case there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from specgen.config import find_config, load_config

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "invalid" / "config"
LENET = (ROOT / "specs" / "lenet5.yaml").read_text(encoding="utf-8")
CIFAR_WARNED = (ROOT / "tests" / "warned" / "cifar10_cnn.yaml").read_text(encoding="utf-8")
UNUSED_BLOCK = """\
specgen: 1
name: unused_block
input: {shape: [4]}
blocks:
  spare:
    layers:
      - {name: d, type: dense, units: 2}
layers:
  - {type: dense, units: 2}
"""


def specgen(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPECGEN_NO_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the corpus of broken configs -------------------------------------------------------


@pytest.mark.parametrize("config", sorted(CORPUS.glob("*.toml")), ids=lambda p: p.stem)
def test_each_broken_config_is_reported_where_it_is_broken(config: Path) -> None:
    expected = re.findall(r"^# expect: (SG\d{3}) (\d+):(\d+)$", config.read_text(), re.M)
    assert expected, f"{config.name} has no '# expect:' line"
    done = specgen("emit", "--all", "--config", config.relative_to(ROOT), cwd=ROOT)
    assert done.returncode == 2, done.stderr
    shown = config.relative_to(ROOT)
    found = re.findall(
        rf"^{re.escape(str(shown))}:(\d+):(\d+): error\[(SG\d{{3}})\]", done.stderr, re.M
    )
    assert sorted((c, line, col) for line, col, c in found) == sorted(expected), done.stderr
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.rstrip()
        .splitlines()[-1]
        .endswith(("nothing was checked", "nothing was emitted"))
    )


def test_a_config_problem_stops_every_command_before_any_spec(tmp_path: Path) -> None:
    write(tmp_path, "specgen.toml", "stirct = true\n")
    write(tmp_path, "net.yaml", LENET)
    for command in (["validate", "net.yaml"], ["summary", "net.yaml"], ["diagram", "net.yaml"]):
        done = specgen(*command, cwd=tmp_path)
        assert done.returncode == 2, command
        assert done.stderr.startswith("specgen.toml:1:1: error[SG102]: unknown key 'stirct'")
        assert "files checked" not in done.stderr and done.stdout == ""


# --- finding the config -----------------------------------------------------------------


def test_the_config_is_found_from_the_working_directory_up(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.specgen]\nstrict = true\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "pyproject.toml"
    write(tmp_path / "a", "pyproject.toml", "[project]\nname = 'x'\n")  # no [tool.specgen]
    assert find_config(deep) == tmp_path / "pyproject.toml"
    write(tmp_path / "a", "specgen.toml", "strict = false\n")
    assert find_config(deep) == tmp_path / "a" / "specgen.toml"
    write(tmp_path / "a", "pyproject.toml", "[tool.specgen]\nstrict = true\n")
    assert find_config(tmp_path / "a") == tmp_path / "a" / "specgen.toml"  # it wins


def test_a_config_outside_the_repository_does_not_apply(tmp_path: Path) -> None:
    write(tmp_path, "specgen.toml", "strict = true\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs").mkdir()
    assert find_config(repo / "specs") is None
    write(repo, "pyproject.toml", "[tool.specgen]\n")
    assert find_config(repo / "specs") == repo / "pyproject.toml"


def test_pyproject_and_specgen_toml_read_the_same(tmp_path: Path) -> None:
    body = 'strict = true\nallow = ["SG301"]\n[limits]\nlayers = 20\n'
    own, own_problems = load_config(write(tmp_path, "specgen.toml", body))
    tool = body.replace("[limits]", "[tool.specgen.limits]")
    py, py_problems = load_config(write(tmp_path, "pyproject.toml", "[tool.specgen]\n" + tool))
    assert own_problems == py_problems == []
    assert (own.strict, own.allow, own.limits) == (py.strict, py.allow, py.limits)
    assert own.strict and own.allow == {"SG301"} and own.limits.layers == 20


def test_a_pyproject_finding_carries_the_tool_path(tmp_path: Path) -> None:
    path = write(tmp_path, "pyproject.toml", "[tool.specgen.limits]\nlayers = -1\n")
    _, (problem,) = load_config(path)
    assert (problem.code, problem.json_path) == ("SG104", ("tool", "specgen", "limits", "layers"))
    assert problem.position is not None and problem.position.line == 2


# --- what the config does ---------------------------------------------------------------


def test_strict_comes_from_the_config_and_the_command_line_wins(tmp_path: Path) -> None:
    write(tmp_path, "net.yaml", CIFAR_WARNED)
    assert specgen("validate", "net.yaml", cwd=tmp_path).returncode == 0
    write(tmp_path, "specgen.toml", "strict = true\n")
    strict = specgen("validate", "net.yaml", cwd=tmp_path)
    assert strict.returncode == 1 and "warning[SG301]" in strict.stderr
    assert specgen("validate", "--no-strict", "net.yaml", cwd=tmp_path).returncode == 0
    env_off = {**os.environ, "SPECGEN_NO_CONFIG": "1"}
    off = subprocess.run(
        [sys.executable, "-m", "specgen", "validate", "net.yaml"],
        cwd=tmp_path,
        env=env_off,
        capture_output=True,
    )
    assert off.returncode == 0


def test_the_config_allow_covers_every_file_and_unused_blocks(tmp_path: Path) -> None:
    write(tmp_path, "net.yaml", CIFAR_WARNED)
    write(tmp_path, "blocks.yaml", UNUSED_BLOCK)
    write(tmp_path, "specgen.toml", "strict = true\n")
    before = specgen("validate", "net.yaml", "blocks.yaml", cwd=tmp_path)
    assert before.returncode == 1
    assert "warning[SG301]" in before.stderr and "warning[SG302]" in before.stderr
    write(tmp_path, "specgen.toml", 'strict = true\nallow = ["SG301", "SG302"]\n')
    after = specgen("validate", "net.yaml", "blocks.yaml", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "warning[" not in after.stderr and "2 allowed" in after.stderr
    json_out = specgen("validate", "--format", "json", "net.yaml", "blocks.yaml", cwd=tmp_path)
    assert json_out.stdout.count('"allowed": true') == 2


def test_limits_come_from_the_config_and_limit_wins(tmp_path: Path) -> None:
    write(tmp_path, "net.yaml", LENET)
    write(tmp_path, "specgen.toml", "[limits]\nlayers = 3\n")
    capped = specgen("validate", "net.yaml", cwd=tmp_path)
    assert capped.returncode == 1 and "error[SG211]" in capped.stderr
    lifted = specgen("validate", "--limit", "layers=100", "net.yaml", cwd=tmp_path)
    assert lifted.returncode == 0, lifted.stderr


# --- emit --all ---------------------------------------------------------------------------

MAP = """\
[[emit]]
spec = "specs/**/*.yaml"
target = "pytorch"
out = "models/{stem}.py"

[[emit]]
spec = "specs/**/*.yaml"
target = "keras"
out = "models/keras/{stem}_{target}.py"
"""


@pytest.fixture
def mapped(tmp_path: Path) -> Path:
    write(tmp_path, "specgen.toml", MAP)
    write(tmp_path, "specs/lenet5.yaml", LENET)
    write(tmp_path, "specs/more/tiny.yaml", LENET.replace("name: lenet5", "name: tiny"))
    return tmp_path


def test_emit_all_writes_every_mapped_file_as_emit_would(mapped: Path) -> None:
    missing = specgen("emit", "--all", "--check", cwd=mapped)
    assert missing.returncode == 1
    assert "models/lenet5.py: missing: specs/lenet5.yaml emits it for pytorch" in missing.stderr
    assert "4 generated files: 4 out of date" in missing.stderr
    assert not (mapped / "models").exists()  # --check writes nothing
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 0, done.stderr
    assert "4 written, 0 unchanged" in done.stderr
    for spec, target, out in [
        ("specs/lenet5.yaml", "pytorch", "models/lenet5.py"),
        ("specs/more/tiny.yaml", "pytorch", "models/tiny.py"),
        ("specs/lenet5.yaml", "keras", "models/keras/lenet5_keras.py"),
        ("specs/more/tiny.yaml", "keras", "models/keras/tiny_keras.py"),
    ]:
        alone = specgen("emit", spec, "--target", target, cwd=mapped)
        assert (mapped / out).read_text(encoding="utf-8") == alone.stdout
    assert specgen("emit", "--all", "--check", cwd=mapped).returncode == 0


def test_emit_all_leaves_unchanged_files_untouched(mapped: Path) -> None:
    assert specgen("emit", "--all", cwd=mapped).returncode == 0
    kept = mapped / "models" / "tiny.py"
    os.utime(kept, (1_000_000, 1_000_000))
    write(mapped, "specs/lenet5.yaml", LENET.replace("activation: tanh", "activation: relu", 1))
    again = specgen("emit", "--all", cwd=mapped)
    assert again.returncode == 0
    assert "2 written, 2 unchanged" in again.stderr
    assert kept.stat().st_mtime == 1_000_000


def test_emit_all_reports_a_spec_with_errors_and_writes_the_rest(mapped: Path) -> None:
    write(mapped, "specs/more/tiny.yaml", LENET.replace("units: 84", "units: 0"))
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 1
    assert re.search(r"specs/more/tiny\.yaml:\d+:\d+: error\[SG", done.stderr)
    assert "2 not emitted (the spec has errors)" in done.stderr
    assert (mapped / "models" / "lenet5.py").is_file()
    assert not (mapped / "models" / "tiny.py").exists()


def test_emit_all_is_its_own_mode(mapped: Path) -> None:
    mixed = specgen("emit", "--all", "specs/lenet5.yaml", "--target", "keras", cwd=mapped)
    assert mixed.returncode == 2 and "drop PATH, --target" in mixed.stderr
    (mapped / "specgen.toml").unlink()
    unmapped = specgen("emit", "--all", cwd=mapped)
    assert unmapped.returncode == 2 and "no emit map" in unmapped.stderr
    neither = specgen("emit", cwd=mapped)
    assert neither.returncode == 2 and "--all" in neither.stderr


def test_emit_all_from_a_subfolder_names_paths_from_there(mapped: Path) -> None:
    (mapped / "notes").mkdir()
    done = specgen("emit", "--all", cwd=mapped / "notes")
    assert done.returncode == 0, done.stderr
    assert "specgen: wrote ../models/lenet5.py (../specs/lenet5.yaml, pytorch)" in done.stderr
    assert specgen("emit", "--all", "--check", cwd=mapped).returncode == 0  # same files


def test_a_byte_order_mark_is_not_a_syntax_error(tmp_path: Path) -> None:
    write(tmp_path, "net.yaml", CIFAR_WARNED)
    (tmp_path / "specgen.toml").write_bytes(b"\xef\xbb\xbfstrict = true\n")
    done = specgen("validate", "net.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "warning[SG301]" in done.stderr  # strict was read


def test_a_wrong_table_is_located_at_its_header(tmp_path: Path) -> None:
    path = write(tmp_path, "specgen.toml", "strict = true\n\n[tool.specgen]\nstrict = true\n")
    _, (problem,) = load_config(path)
    assert (problem.code, problem.json_path) == ("SG102", ("tool",))
    assert problem.position is not None and (problem.position.line, problem.position.column) == (
        3,
        1,
    )


# --- what the review found: nothing a config or a repository holds escapes the project ---


def test_a_stem_of_dots_cannot_lead_out_of_the_project(mapped: Path) -> None:
    (mapped / "specs" / "lenet5.yaml").rename(mapped / "specs" / "...yaml")
    write(
        mapped,
        "specgen.toml",
        '[[emit]]\nspec = "specs/*.yaml"\ntarget = "keras"\nout = "{stem}/{target}_model.py"\n',
    )
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 2, done.stderr
    # A name starting with a dot is a hidden file: never a spec of the map, so never a
    # stem of '..' (and a filled-in path with '..' would be refused as well).
    assert "error[SG009]" in done.stderr
    assert not (mapped.parent / "keras_model.py").exists()


def test_a_committed_symlink_cannot_redirect_a_generated_file(mapped: Path) -> None:
    victim = mapped.parent / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (mapped / "models").mkdir()
    (mapped / "models" / "lenet5.py").symlink_to(victim)
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 2 and "through a symlink" in done.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"


@pytest.mark.parametrize("out", ["specgen.toml", ".git/config", "models/{stem}.txt"])
def test_out_names_a_python_file_in_the_open(mapped: Path, out: str) -> None:
    write(
        mapped,
        "specgen.toml",
        f'[[emit]]\nspec = "specs/*.yaml"\ntarget = "keras"\nout = "{out}"\n',
    )
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 2 and "error[SG104]" in done.stderr, done.stderr


@pytest.mark.parametrize("pattern", ["specs/**x.yaml", "specs/***.yaml", ".", "./"])
def test_a_glob_pathlib_refuses_is_a_finding(mapped: Path, pattern: str) -> None:
    write(
        mapped,
        "specgen.toml",
        f'[[emit]]\nspec = "{pattern}"\ntarget = "keras"\nout = "m/{{stem}}.py"\n',
    )
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 2, done.stderr
    assert re.search(r"specgen\.toml:2:\d+: error\[SG009\]", done.stderr), done.stderr


def test_an_output_folder_that_cannot_be_made_is_a_usage_error(mapped: Path) -> None:
    (mapped / "models").write_text("a file where the folder goes\n", encoding="utf-8")
    done = specgen("emit", "--all", cwd=mapped)
    assert done.returncode == 2 and "cannot create the folder" in done.stderr, done.stderr


def test_a_generated_file_that_is_not_text_is_stale_and_rewritten(mapped: Path) -> None:
    (mapped / "models").mkdir()
    (mapped / "models" / "lenet5.py").write_bytes(b"\xff\xfe")
    checked = specgen("emit", "--all", "--check", cwd=mapped)
    assert checked.returncode == 1 and "models/lenet5.py: not UTF-8 text" in checked.stderr
    assert specgen("emit", "--all", cwd=mapped).returncode == 0
    assert specgen("emit", "--all", "--check", cwd=mapped).returncode == 0


def test_check_never_calls_a_folder_up_to_date(mapped: Path) -> None:
    assert specgen("emit", "--all", cwd=mapped).returncode == 0
    (mapped / "models" / "tiny.py").unlink()
    (mapped / "models" / "tiny.py").mkdir()
    done = specgen("emit", "--all", "--check", cwd=mapped)
    assert done.returncode == 1 and "models/tiny.py: a folder, not a file" in done.stderr
    assert "all up to date" not in done.stderr


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "{a=" * 2000 + "1" + "}" * 2000,
    ],
    ids=["deep-array", "deep-table"],
)
def test_a_deeply_nested_config_is_a_finding(tmp_path: Path, text: str) -> None:
    write(tmp_path, "specgen.toml", text + "\n")
    write(tmp_path, "net.yaml", LENET)
    done = specgen("validate", "net.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "error[SG008]" in done.stderr, done.stderr[-500:]


@pytest.mark.parametrize("value", ["100_000_000_000_000_000", "99999999999999999999999"])
def test_a_limit_past_every_machine_is_a_finding(tmp_path: Path, value: str) -> None:
    write(tmp_path, "specgen.toml", f"[limits]\nbytes = {value}\n")
    write(tmp_path, "net.yaml", LENET)
    done = specgen("validate", "net.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "error[SG104]" in done.stderr, done.stderr


def test_a_raised_byte_limit_reads_a_small_file(tmp_path: Path) -> None:
    write(tmp_path, "specgen.toml", "[limits]\nbytes = 1_000_000_000_000\n")
    write(tmp_path, "net.yaml", LENET)
    done = specgen("validate", "net.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_long_blank_runs_in_a_config_are_read_and_located(tmp_path: Path) -> None:
    """A nested array with a long blank run and a pyproject.toml of many blank lines:
    the line scan is linear (it was cubic and quadratic)."""
    write(tmp_path, "specgen.toml", "a = [\n[" + " " * 4000 + "1,\n2]]\nstrict = 'yes'\n")
    _, problems = load_config(tmp_path / "specgen.toml")
    located = {(d.code, d.position.line if d.position else 0) for d in problems}
    assert located == {("SG102", 1), ("SG103", 4)}
    write(tmp_path / "p", "pyproject.toml", "\n" * 80_000 + "[tool.specgen]\nstrict = true\n")
    assert find_config(tmp_path / "p") == tmp_path / "p" / "pyproject.toml"


@pytest.mark.parametrize(
    "text",
    [
        '[tool."specgen".limits]\nlayers = 1\n',
        "[tool.'specgen']\nlimits.layers = 1\n",
        "[tool]\nspecgen.limits.layers = 1\n",
        "tool.specgen.limits.layers = 1\n",
    ],
)
def test_every_toml_spelling_of_the_tool_table_is_found(tmp_path: Path, text: str) -> None:
    write(tmp_path, "pyproject.toml", text)
    write(tmp_path, "net.yaml", LENET)
    done = specgen("validate", "net.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "error[SG211]" in done.stderr, done.stderr


def test_odd_paths_are_usage_errors_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    for name in ("loop.yaml", "a" * 300 + ".yaml"):
        for command in ("validate", "summary"):
            done = specgen(command, name, cwd=tmp_path)
            assert done.returncode == 2, (command, name, done.stderr)
            assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_a_filled_in_path_is_checked_after_the_stem_goes_in(tmp_path: Path) -> None:
    from specgen.config import _outside

    root = tmp_path.resolve()
    assert _outside(root, "../x.py", root / "../x.py") == "leaves the project folder"
    assert _outside(root, ".git/hooks/x.py", root / ".git/hooks/x.py") is not None
    assert _outside(root, "models/x.py", root / "models/x.py") is None
