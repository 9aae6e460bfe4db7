"""Every command and Python example of the README runs here, so the docs cannot rot.

- `$ specgen ...` lines in text blocks run in a sandbox holding a copy of `specs/` and
  the files the README defines (a block after `<!-- file: NAME -->`); the lines shown
  after a command are its output (stdout, then stderr), and an emitted-code command is
  followed by a Python block that is its stdout.
- `bash` blocks run as written: the Quick start's install line in a fresh copy of the
  checkout with its own virtual environment (base dependencies from the registry), the
  test command in CI itself (`.ci/run` runs it, test_docs checks that), and the long runs
  (fuzzing, the benchmark) with their size cut, the one substitution this file makes.
- Python blocks: the Python API section runs in test_docs; the weight-porting example
  runs here against modules emitted by the commands its comments name.

`test_every_block_is_accounted_for` fails when a new command or Python block appears
that none of these runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FRAMEWORK_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    start: int  # offsets in the README
    end: int

    @property
    def line(self) -> int:
        return README.count("\n", 0, self.start) + 1


BLOCKS = [Block(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(README)]


@dataclass(frozen=True)
class Command:
    argv: list[str]
    shown: str | None  # the output the README shows, when it shows one
    block: Block


def defined_files() -> dict[str, str]:
    return {
        m.group(1): m.group(2)
        for m in re.finditer(
            r"<!-- file: (\S+) -->\n```\w*\n(.*?)^```$", README, re.MULTILINE | re.DOTALL
        )
    }


def dollar_commands() -> list[Command]:
    commands = []
    for index, block in enumerate(BLOCKS):
        if block.lang != "text" or not block.body.startswith("$ "):
            continue
        parts = re.split(r"^\$ ", block.body, flags=re.MULTILINE)[1:]
        for part in parts:
            line, _, output = part.partition("\n")
            shown: str | None = output or None
            following = BLOCKS[index + 1] if index + 1 < len(BLOCKS) else None
            if shown is None and following is not None and following.lang == "python":
                between = README[block.end : following.start]
                if between.strip() == "":  # the emitted code, right below the command
                    shown = following.body
            commands.append(Command(shlex.split(line, comments=True), shown, block))
    return commands


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "specs", here / "specs")
    for name, text in defined_files().items():
        (here / name).write_text(text, encoding="utf-8")
    return here


COMMANDS = dollar_commands()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c.argv[1:4]))
def test_readme_shell_command_does_what_it_shows(command: Command, sandbox: Path) -> None:
    assert command.argv[0] == "specgen", "README commands are specgen commands"
    if "svg" in command.argv:
        assert shutil.which("dot"), "Graphviz's dot is needed (.ci/run installs it)"
    done = subprocess.run(
        [sys.executable, "-m", "specgen", *command.argv[1:]],
        cwd=sandbox,
        capture_output=True,
        text=True,
        timeout=300,
    )
    failing = command.shown is not None and re.search(r"error\[|^::error", command.shown, re.M)
    assert done.returncode == (1 if failing else 0), done.stderr
    if command.shown is not None:
        assert (done.stdout + done.stderr).rstrip("\n") == command.shown.rstrip("\n")
    for flag in ("-o", "--out"):
        if flag in command.argv:
            assert (sandbox / command.argv[command.argv.index(flag) + 1]).stat().st_size > 0


def test_readme_defines_the_files_its_commands_use() -> None:
    files = defined_files()
    assert "net.yaml" in files
    used = {arg for c in COMMANDS for arg in c.argv if arg.endswith((".yaml", ".json"))}
    assert used <= set(files) | {str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*")}


# --- bash blocks ----------------------------------------------------------------------------


def bash_blocks() -> list[str]:
    return [b.body.strip() for b in BLOCKS if b.lang == "bash"]


def quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.DOTALL)


def test_the_quick_start_install_line_works_in_a_fresh_checkout(tmp_path: Path) -> None:
    """Line 1 of the Quick start, verbatim, in a copy of the checkout; then the
    Installing section's command with that environment's pip. Prints the summary the
    README shows."""
    checkout = tmp_path / "specgen"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, checkout / name)
    for tree in ("specgen", "templates", "specs"):
        shutil.copytree(ROOT / tree, checkout / tree, ignore=shutil.ignore_patterns("__py*"))
    line = quick_start()[0]
    done = subprocess.run(
        ["bash", "-c", line], cwd=checkout, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = README.split("$ specgen summary specs/cifar10_cnn.yaml\n", 1)[1].split("\n```")[0]
    assert done.stdout.rstrip("\n").endswith(summary)
    install = README.split("## Installing", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)\n```", install, flags=re.DOTALL)
    env = {**os.environ, "PATH": f"{checkout / '.venv' / 'bin'}:{os.environ['PATH']}"}
    again = subprocess.run(
        ["bash", "-c", block], cwd=checkout, capture_output=True, text=True, env=env, timeout=900
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (checkout / ".venv" / "bin" / "specgen").exists()


def test_the_fuzzing_command_runs(tmp_path: Path) -> None:
    (command,) = [b for b in bash_blocks() if "SPECGEN_FUZZ_EXAMPLES=" in b]
    stats = tmp_path / "fuzz-stats.json"
    cut = re.sub(r"SPECGEN_FUZZ_EXAMPLES=\d+", "SPECGEN_FUZZ_EXAMPLES=3", command)
    cut = cut.replace("SPECGEN_FUZZ_STATS=fuzz-stats.json", f"SPECGEN_FUZZ_STATS={stats}")
    assert cut != command and str(stats) in cut
    cut = cut.replace(".venv/bin/pytest", f"{sys.executable} -m pytest -p no:cacheprovider")
    done = subprocess.run(
        ["bash", "-c", cut],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **FRAMEWORK_ENV},
    )
    assert done.returncode == 0, done.stdout[-3000:]
    covered = json.loads(stats.read_text(encoding="utf-8"))
    assert covered["examples_requested"] == 3 and covered["accepted"] >= 1


def test_the_benchmark_command_runs(tmp_path: Path) -> None:
    """Its install part is the test command's (which CI runs, making this environment);
    the run itself goes here at --quick sizes, writing to a temporary folder."""
    (command,) = [b for b in bash_blocks() if "benchmarks/run.py" in b]
    install, _, run = command.rpartition(" && ")
    assert install == quick_start()[1].rpartition(" && ")[0]
    assert run == ".venv/bin/python benchmarks/run.py"
    out = tmp_path / "results.json"
    argv = [sys.executable, "benchmarks/run.py", "--quick", "--only", "deep"]
    argv += ["--json", str(out), "--markdown", str(tmp_path / "results.md")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [s["name"] for s in json.loads(out.read_text(encoding="utf-8"))["sections"]] == ["deep"]


def test_every_block_is_accounted_for() -> None:
    """A new bash or Python block must be run by a test above (or by test_docs)."""
    quick = quick_start()
    assert len(quick) == 2  # line 2 is the test command CI runs (test_docs checks it)
    known_bash = {
        quick[0],
        quick[1],
        "pip install -e .          # from a checkout",
        *(b for b in bash_blocks() if "SPECGEN_FUZZ_EXAMPLES=" in b or "benchmarks/run.py" in b),
    }
    assert set(bash_blocks()) == known_bash
    python = [b for b in BLOCKS if b.lang == "python"]
    emitted = {c.shown for c in COMMANDS if c.argv[:2] == ["specgen", "emit"]}
    api = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    unaccounted = [
        b.line
        for b in python
        if b.body not in emitted and b.body not in api and b.body != porting_block()
    ]
    assert unaccounted == [], f"README Python blocks at lines {unaccounted} are not run"


# --- the weight-porting example ----------------------------------------------------------------


def porting_block() -> str:
    section = README.split("## The equivalence guarantee", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?\n)```", section, flags=re.DOTALL)
    return block


def test_the_weight_porting_example_runs(tmp_path: Path) -> None:
    """Emit the two modules its comments name, save Keras weights as trained.weights.h5,
    run the block, and check what it promises: the same outputs."""
    block = porting_block()
    for module, target in re.findall(r"from (\w+) import build_model .*--target (\w+)", block):
        out = str(tmp_path / f"{module}.py")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "specgen",
                "emit",
                "specs/cifar10_cnn.yaml",
                "--target",
                target,
                "-o",
                out,
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    program = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from cifar10_cnn_keras import build_model\n"
        "build_model().save_weights('trained.weights.h5')\n" + block + "\n"
        "import numpy\n"
        "diff = abs(numpy.asarray(y_keras) - y_torch.detach().numpy()).max()\n"
        "print('max difference', diff)\n"
        "assert diff < 1e-4, diff\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **FRAMEWORK_ENV},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "max difference" in done.stdout
