"""specgen's pre-commit hooks, run by the real `pre-commit` program.

A module fixture snapshots this checkout (the files a pip install needs, plus the hook
file) into a git repository tagged with the `rev` the README shows, so the hooks under
test are the working tree's. Each test makes a user's project as a fresh git repository
whose `.pre-commit-config.yaml` is the README's own block (its `repo:` pointed at the
snapshot), installs the git hook and commits: what a user sees is what is asserted.
pre-commit builds the hook environment once (PRE_COMMIT_HOME is shared by the module);
it installs specgen's base dependencies from the package registry.

The hook file itself is checked with pre-commit's own manifest schema, and its file
patterns the way check-jsonschema tests its own: lists of paths each hook must take and
must leave alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / ".pre-commit-hooks.yaml"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
SNAPSHOT = ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml")
SNAPSHOT_TREES = ("specgen", "templates")
CIFAR = (ROOT / "specs" / "cifar10_cnn.yaml").read_text(encoding="utf-8")
LENET = (ROOT / "specs" / "lenet5.yaml").read_text(encoding="utf-8")

PYPROJECT = """\
[project]
name = "my-models"
version = "1.0"

[tool.specgen]
strict = true

[[tool.specgen.emit]]
spec = "specs/*.yaml"
target = "pytorch"
out = "models/{stem}.py"
"""

# A pooling layer that drops a row: warning SG301, which `strict = true` makes fail.
DROPS_A_ROW = """\
specgen: 1
name: drops_a_row
input: {shape: [5, 5, 3]}
layers:
  - {type: max_pool2d, pool_size: 2}
  - {type: flatten}
  - {type: dense, units: 2}
"""


def hooks() -> list[dict[str, object]]:
    loaded = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(loaded, list)
    return loaded


def readme_config() -> tuple[str, str]:
    """The README's .pre-commit-config.yaml block and the `rev` it names."""
    section = README.split("## pre-commit", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    (rev,) = re.findall(r"^\s*rev: (\S+)$", block, flags=re.MULTILINE)
    return block, rev


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=check
    )


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """This checkout as a hook repository tagged with the README's rev, and the
    PRE_COMMIT_HOME shared by the module's tests."""
    repo = tmp_path_factory.mktemp("specgen-hooks")
    for name in SNAPSHOT:
        shutil.copy2(ROOT / name, repo / name)
    for tree in SNAPSHOT_TREES:
        shutil.copytree(ROOT / tree, repo / tree, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "snapshot")
    git(repo, "tag", readme_config()[1])
    yield repo, tmp_path_factory.mktemp("pre-commit-home")


class Project:
    """A user's repository with specgen's hooks installed."""

    def __init__(self, path: Path, hook_repo: Path, home: Path) -> None:
        self.path = path
        self.env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
        self.env.pop("SPECGEN_NO_CONFIG", None)
        block, _ = readme_config()
        config = re.sub(r"(- repo: ).*", lambda m: m.group(1) + str(hook_repo), block)
        self.write(".pre-commit-config.yaml", config)
        self.write("pyproject.toml", PYPROJECT)
        git(path, "init", "-q", "-b", "main")
        subprocess.run(
            [PRE_COMMIT, "install"], cwd=path, env=self.env, check=True, capture_output=True
        )

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def emit_all(self) -> None:
        subprocess.run(
            [Path(sys.executable).parent / "specgen", "emit", "--all"],
            cwd=self.path,
            check=True,
            capture_output=True,
        )

    def commit(self, message: str = "change") -> subprocess.CompletedProcess[str]:
        """`git add -A` and `git commit` with the installed hook; the hooks' output (git
        hands it to stderr) and git's own are both in `stdout`."""
        git(self.path, "add", "-A")
        env = {**self.env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
        env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
        return subprocess.run(
            ["git", "commit", "-m", message],
            cwd=self.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )


@pytest.fixture
def project(tmp_path: Path, hook_repo: tuple[Path, Path]) -> Project:
    made = Project(tmp_path / "my-models", *hook_repo)
    made.write("specs/cifar10_cnn.yaml", CIFAR)
    made.write("specs/lenet5.yaml", LENET)
    made.emit_all()
    return made


def test_a_clean_commit_passes(project: Project) -> None:
    done = project.commit("models")
    assert done.returncode == 0, done.stdout
    assert re.search(r"specgen validate\.+Passed", done.stdout)
    assert re.search(r"specgen emit --all --check\.+Passed", done.stdout)
    assert git(project.path, "log", "--oneline").stdout.count("\n") == 1


def test_a_broken_spec_fails_with_its_diagnostic(project: Project) -> None:
    assert project.commit().returncode == 0
    # Many files, so pre-commit may run batches in parallel; one of them is broken.
    for i in range(40):
        project.write(f"specs/more/net_{i}.json", _json_net(units=i + 1))
    project.write("specs/more/net_7.json", _json_net(units=0))
    done = project.commit()
    assert done.returncode == 1
    assert re.search(r"specgen validate\.+Failed", done.stdout)
    assert re.search(r"specs/more/net_7\.json:\d+:\d+: error\[SG104\]", done.stdout)
    assert "Traceback" not in done.stdout
    assert git(project.path, "log", "--oneline").stdout.count("\n") == 1  # not committed


def test_a_stale_generated_file_fails(project: Project) -> None:
    assert project.commit().returncode == 0
    changed = LENET.replace("units: 84, activation: tanh", "units: 84, activation: relu")
    assert changed != LENET
    project.write("specs/lenet5.yaml", changed)
    done = project.commit()
    assert done.returncode == 1
    assert re.search(r"specgen validate\.+Passed", done.stdout)
    assert re.search(r"specgen emit --all --check\.+Failed", done.stdout)
    assert "models/lenet5.py: stale: specs/lenet5.yaml emits it for pytorch" in done.stdout
    assert re.search(r"^-\s+self\.f6_act = nn\.Tanh\(\)$", done.stdout, flags=re.M)  # diff
    project.emit_all()
    assert project.commit().returncode == 0


def test_a_new_spec_not_yet_emitted_fails(project: Project) -> None:
    assert project.commit().returncode == 0
    project.write("specs/lenet5_copy.yaml", LENET.replace("name: lenet5", "name: lenet5_copy"))
    done = project.commit()
    assert done.returncode == 1
    assert "models/lenet5_copy.py: missing: specs/lenet5_copy.yaml emits it" in done.stdout


def test_a_deleted_generated_file_fails(project: Project) -> None:
    assert project.commit().returncode == 0
    (project.path / "models" / "cifar10_cnn.py").unlink()
    done = project.commit()
    assert done.returncode == 1
    assert "models/cifar10_cnn.py: missing" in done.stdout


def test_the_config_allow_is_honoured(project: Project) -> None:
    project.write("specs/drops_a_row.yaml", DROPS_A_ROW)
    project.emit_all()
    done = project.commit()
    assert done.returncode == 1  # strict = true, and SG301 is not acknowledged
    assert re.search(r"specs/drops_a_row\.yaml:5:\d+: warning\[SG301\]", done.stdout)
    project.write(
        "pyproject.toml", PYPROJECT.replace("strict = true", 'strict = true\nallow = ["SG301"]')
    )
    done = project.commit()
    assert done.returncode == 0, done.stdout
    assert "SG301" not in done.stdout


def test_a_broken_config_fails_where_it_is_broken(project: Project) -> None:
    project.write("pyproject.toml", PYPROJECT.replace("strict = true", "strict = 'yes'"))
    done = project.commit()
    assert done.returncode == 1
    assert re.search(r"pyproject\.toml:6:10: error\[SG103\]: 'strict'", done.stdout)


def _json_net(units: int) -> str:
    return (
        '{"specgen": 1, "name": "net", "input": {"shape": [4]}, '
        f'"layers": [{{"type": "dense", "units": {units}}}]}}\n'
    )


# --- the hook file -----------------------------------------------------------------------


def test_the_hook_file_is_a_valid_pre_commit_manifest() -> None:
    from pre_commit.clientlib import load_manifest

    loaded = load_manifest(str(HOOKS))
    assert [hook["id"] for hook in loaded] == ["specgen-validate", "specgen-emit-check"]


def test_the_hooks_run_specgen() -> None:
    validate, emit_check = hooks()
    assert validate["entry"] == "specgen validate" and validate["language"] == "python"
    assert set(validate["types_or"]) == {"json", "yaml"}  # type: ignore[call-overload]
    assert validate["require_serial"] is False  # each file on its own: parallel batches
    assert emit_check["entry"] == "specgen emit --all --check"
    assert emit_check["pass_filenames"] is False and emit_check["always_run"] is True


def _takes(hook: dict[str, object], path: str) -> bool:
    """pre-commit's own rule: `files` and `exclude` are searched (re.search) in the path,
    and `identify` decides the file types."""
    from identify.identify import tags_from_filename

    files = re.compile(str(hook.get("files", "")))
    exclude = re.compile(str(hook.get("exclude", "^$")))
    types_or = set(hook.get("types_or", []) or [])  # type: ignore[call-overload]
    wanted = not types_or or bool(types_or & tags_from_filename(path))
    return wanted and bool(files.search(path)) and not exclude.search(path)


@pytest.mark.parametrize(
    "path",
    [
        "net.yaml",
        "net.yml",
        "net.json",
        "specs/resnet50.yaml",
        "specs/zoo/deep/v2.json",
        "models/a.b.yaml",
        "my.github.yaml",  # a dot inside a name is not a hidden file
    ],
)
def test_validate_takes_spec_files(path: str) -> None:
    assert _takes(hooks()[0], path)


@pytest.mark.parametrize(
    "path",
    [
        ".pre-commit-config.yaml",
        ".pre-commit-hooks.yaml",
        ".github/workflows/ci.yml",
        ".vscode/settings.json",
        "specs/.hidden.yaml",
        "specs/specgen.schema.json",
        "specs/net.py",
        "specs/notes.ipynb",
        "specs/map.geojson",
        "Pipfile.lock",
        "pyproject.toml",
        "README.md",
    ],
)
def test_validate_leaves_other_files_alone(path: str) -> None:
    assert not _takes(hooks()[0], path)


def test_the_readme_config_uses_both_hooks() -> None:
    block, rev = readme_config()
    (repo,) = yaml.safe_load(block)["repos"]
    assert [hook["id"] for hook in repo["hooks"]] == ["specgen-validate", "specgen-emit-check"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", rev)
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None and rev == f"v{version.group(1)}"
