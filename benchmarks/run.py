"""specgen's benchmark (issue 10): one command, every figure side by side with its peers.

    python benchmarks/run.py [--rounds N] [--heavy-rounds N] [--json OUT] [--markdown OUT]
                             [--only SECTION ...] [--quick] [--strict]

Sections (``--only`` takes their names or numbers):

1. ``cold``: ``specgen validate`` of specs/cifar10_cnn.yaml, and of the same spec as JSON,
   against ``check-jsonschema --schemafile specs/specgen.schema.json`` on the same file,
   the Keras route (a fresh python builds the emitted Keras model and calls
   ``count_params()``) and the PyTorch route (a fresh python builds the emitted PyTorch
   model and runs one forward pass on a zeros batch of 1).
2. ``many``: one ``specgen validate`` over 1,000 valid spec files (copies of the networks
   in specs/, the everyday size a pre-commit run meets, as in the issue's own baseline;
   half YAML, half JSON) against one ``check-jsonschema`` over the same files. The zoo's
   large models have their own figures in section 4 and in ``--only deep``.
3. ``deep``: ``specgen validate`` and ``specgen summary --format json`` of generated
   straight networks of 1k, 10k and 100k layers, YAML and JSON: time, time per layer,
   peak memory. Sizes past a default resource limit get ``--limit`` flags raising it.
4. ``emit``: ``specgen emit`` of the largest zoo model (by layer count) for each target,
   and the time ``build_model()`` of the emitted code takes, timed inside a fresh python
   around that one call (the figure is what the child prints, not its wall time).

Method. Every measured thing is a fresh subprocess, so a figure is what a user or a
pre-commit hook pays: interpreter start-up and imports included ("cold"). Its time is
the wall time from just before the spawn to the return of ``os.wait4``; its peak memory
is the child's own ``ru_maxrss`` from that ``os.wait4``. Linux carries the spawning
process's high-water RSS into the child across exec, so this harness keeps itself small
(it imports no framework and not specgen, and streams generated specs to disk); its own
peak, a floor under every peak in the table, is recorded as ``harness_peak_kib``. The
children's stdout goes to /dev/null. specgen runs as the ``specgen`` console script next
to ``sys.executable`` (what users run; ``python -m specgen`` is the same program), and
check-jsonschema as the script next to it too.

Rounds are interleaved: each round runs every contender of a section once, in turn, so a
busy machine slows all of them alike. The tables give the median, min and max over the
rounds, the largest peak, and the ratio of the medians of each compared pair. The heavy
contenders (anything that imports TensorFlow or PyTorch, check-jsonschema over the 1,000
files, and the 100k-layer runs) take part in the first ``--heavy-rounds`` rounds only
(default 3); their rows say how many rounds they had. A full run takes about 11 minutes
on 2 cores, most of it in check-jsonschema (section 2) and the 100k-layer specs.
``--quick`` is one round at small sizes, for the smoke test.

The table and the goals are printed (as Markdown, the same text ``--markdown`` writes and
the README embeds; `render_markdown` renders it from the JSON alone). ``--json`` writes
every figure, each round's samples, the machine, the versions and the command line. The
exit code is 0 once everything was measured, goals met or not (``--strict``: 1 when one
is not), and 2 when a measured command fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
SCHEMA = SPECS / "specgen.schema.json"
CIFAR = SPECS / "cifar10_cnn.yaml"
BIN = Path(sys.executable).parent
FORMAT_VERSION = 1

# specgen's default resource limits (specgen/limits.py), copied rather than imported so
# the harness stays small (see the module docstring): a generated spec past one of them
# gets --limit flags.
DEFAULT_LAYERS = 10_000
DEFAULT_BYTES = 4 * 1024 * 1024
DEFAULT_VALUES = 100_000

KERAS_ROUTE = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("emitted_model", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.build_model().count_params())
"""

PYTORCH_ROUTE = """\
import importlib.util, sys
import torch
spec = importlib.util.spec_from_file_location("emitted_model", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.build_model()
with torch.no_grad():
    model(torch.zeros(1, *map(int, sys.argv[2:])))
"""

BUILD_TIMER = """\
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("emitted_model", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
start = time.perf_counter()
module.build_model()
print(time.perf_counter() - start)
"""

# The deep networks of section 3: this pattern over and over, on an [8, 8, 4] input.
DEEP_INPUT = (8, 8, 4)
DEEP_PATTERN: tuple[dict[str, Any], ...] = (
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "use_bias": False},
    {"type": "batch_norm"},
    {"type": "activation", "activation": "relu"},
)


class BenchmarkError(Exception):
    """A measured command failed: its figures would mean nothing."""


@dataclass(frozen=True)
class Contender:
    """One measured command: a row of a section's table."""

    key: str
    label: str
    argv: list[str]
    heavy: bool = False
    layers: int | None = None
    """Set for the deep networks: the row also gives the time per layer."""
    internal: bool = False
    """The figure is the seconds the child prints on its last line, not its wall time."""


@dataclass(frozen=True)
class Ratio:
    """The ratio of the medians of two rows (per layer: of their medians per layer)."""

    label: str
    numerator: str
    denominator: str
    per_layer: bool = False


@dataclass(frozen=True)
class Goal:
    """One goal of the issue: a row's median or peak, or a ratio, against a bound."""

    label: str
    metric: str
    """'ratio' (of the Ratio labelled `subject`), 'median_s' or 'peak_mib' (of row `subject`)."""
    subject: str
    op: str
    """'<=' for "at most" / "within", '<' for "under"."""
    limit: float


@dataclass
class Section:
    name: str
    number: int
    title: str
    note: str
    contenders: list[Contender]
    ratios: list[Ratio] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_kib: int


# -- measuring ---------------------------------------------------------------------------


def _peak_kib(ru_maxrss: int) -> int:
    # Linux reports KiB; macOS, bytes.
    return ru_maxrss // 1024 if sys.platform == "darwin" else ru_maxrss


def measure(contender: Contender, workdir: Path) -> Sample:
    """Run `contender` once in a fresh process; raise BenchmarkError unless it exits 0."""
    err_path = workdir / "stderr.txt"
    out_path = workdir / "stdout.txt"
    with (
        err_path.open("wb") as err,
        out_path.open("wb") if contender.internal else open(os.devnull, "wb") as out,
    ):
        start = time.perf_counter()
        process = subprocess.Popen(contender.argv, cwd=workdir, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise BenchmarkError(
            f"{contender.label}: `{display(contender.argv)}` exited {process.returncode}\n{tail}"
        )
    if contender.internal:
        seconds = float(out_path.read_text(encoding="utf-8").split()[-1])
    return Sample(seconds, _peak_kib(usage.ru_maxrss))


def display(argv: Sequence[str]) -> str:
    """A command line as the tables show it: program names bare, inline scripts elided."""
    shown = [Path(argv[0]).name]
    rest = list(argv[1:])
    if rest[:1] == ["-c"]:
        shown += ["-c", "<script>"]
        rest = rest[2:]
    return shlex.join(shown + rest)


def run_section(
    section: Section, workdir: Path, rounds: int, heavy_rounds: int
) -> dict[str, list[Sample]]:
    """Every contender once per round, in turn; the heavy ones in the first rounds only."""
    samples: dict[str, list[Sample]] = {c.key: [] for c in section.contenders}
    for round_index in range(rounds):
        started = time.perf_counter()
        for contender in section.contenders:
            if contender.heavy and round_index >= heavy_rounds:
                continue
            samples[contender.key].append(measure(contender, workdir))
        print(
            f"  {section.name}: round {round_index + 1}/{rounds} "
            f"({time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    return samples


# -- the sections ------------------------------------------------------------------------


def specgen_argv(*args: str) -> list[str]:
    return [str(BIN / "specgen"), *args]


def check_jsonschema_argv(*files: str) -> list[str]:
    return [str(BIN / "check-jsonschema"), "--schemafile", SCHEMA.name, *files]


def python_argv(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script, *args]


def prepare(argv: list[str], workdir: Path) -> None:
    """Run an unmeasured set-up command (emit, summary); raise BenchmarkError on failure."""
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"set-up `{display(argv)}` exited {done.returncode}\n{done.stderr}")


def to_json(source: Path, target: Path) -> None:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def cold_section(workdir: Path) -> Section:
    shutil.copy(CIFAR, workdir / CIFAR.name)
    to_json(CIFAR, workdir / "cifar10_cnn.json")
    for target in ("keras", "pytorch"):
        prepare(
            specgen_argv("emit", CIFAR.name, "--target", target, "-o", f"model_{target}.py"),
            workdir,
        )
    height, width, channels = yaml.safe_load(CIFAR.read_text(encoding="utf-8"))["input"]["shape"]
    contenders = [
        Contender("specgen_yaml", "specgen validate, YAML", specgen_argv("validate", CIFAR.name)),
        Contender(
            "specgen_json", "specgen validate, JSON", specgen_argv("validate", "cifar10_cnn.json")
        ),
        Contender("cjs_yaml", "check-jsonschema, YAML", check_jsonschema_argv(CIFAR.name)),
        Contender("cjs_json", "check-jsonschema, JSON", check_jsonschema_argv("cifar10_cnn.json")),
        Contender(
            "keras",
            "Keras route: build_model().count_params()",
            python_argv(KERAS_ROUTE, "model_keras.py"),
            heavy=True,
        ),
        Contender(
            "pytorch",
            "PyTorch route: build_model() + forward(zeros)",
            python_argv(PYTORCH_ROUTE, "model_pytorch.py", str(channels), str(height), str(width)),
            heavy=True,
        ),
    ]
    ratios: list[Ratio] = []
    goals: list[Goal] = []
    for fmt in ("yaml", "json"):
        name = fmt.upper()
        ratios += [
            Ratio(f"specgen / check-jsonschema, {name}", f"specgen_{fmt}", f"cjs_{fmt}"),
            Ratio(f"specgen / Keras route, {name}", f"specgen_{fmt}", "keras"),
            Ratio(f"specgen / PyTorch route, {name}", f"specgen_{fmt}", "pytorch"),
        ]
        goals += [
            Goal(
                f"cold validate, {name}: at most 0.6x check-jsonschema",
                "ratio",
                f"specgen / check-jsonschema, {name}",
                "<=",
                0.6,
            ),
            Goal(
                f"cold validate, {name}: at most 1/20 of the Keras route",
                "ratio",
                f"specgen / Keras route, {name}",
                "<=",
                0.05,
            ),
            Goal(
                f"cold validate, {name}: peak at most 40 MiB",
                "peak_mib",
                f"specgen_{fmt}",
                "<=",
                40,
            ),
        ]
    return Section(
        "cold",
        1,
        "Cold validate of cifar10_cnn",
        "One fresh process per figure, on specs/cifar10_cnn.yaml and the same spec as JSON. "
        "The Keras and PyTorch routes check shapes the other way: build the emitted model "
        "(and, for PyTorch, run a batch of one through it).",
        contenders,
        ratios,
        goals,
    )


def many_sources() -> list[Path]:
    return sorted([*SPECS.glob("*.yaml"), *SPECS.glob("*.json")])


def many_section(workdir: Path, count: int) -> Section:
    folder = workdir / "many"
    folder.mkdir()
    sources = [p for p in many_sources() if p != SCHEMA]
    names: list[str] = []
    for index in range(count):
        source = sources[index % len(sources)]
        # Even indices YAML, odd ones JSON: half and half, every source in both formats.
        suffix = ".yaml" if index % 2 == 0 else ".json"
        target = folder / f"{source.stem}_{index:05d}{suffix}"
        if suffix == source.suffix:
            shutil.copy(source, target)
        else:
            to_json(source, target)
        names.append(f"many/{target.name}")
    return Section(
        "many",
        2,
        f"{count:,} files in one invocation",
        f"{count:,} valid specs (copies of the networks in specs/, {count // 2:,} YAML and "
        f"{count - count // 2:,} JSON), one process each side.",
        [
            Contender("specgen", "specgen validate", specgen_argv("validate", *names)),
            # Over a minute a round at 1,000 files: a heavy row, to keep the run short.
            Contender("cjs", "check-jsonschema", check_jsonschema_argv(*names), heavy=True),
        ],
        [Ratio("specgen / check-jsonschema", "specgen", "cjs")],
        [
            Goal(
                f"{count:,} files: at most 0.3x check-jsonschema",
                "ratio",
                "specgen / check-jsonschema",
                "<=",
                0.3,
            ),
            Goal(f"{count:,} files: under 1.5 s", "median_s", "specgen", "<", 1.5),
        ],
    )


def _yaml_flow(layer: dict[str, Any]) -> str:
    items = (f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in layer.items())
    return "{" + ", ".join(items) + "}"


def write_deep(path: Path, layers: int) -> int:
    """Write a straight network of `layers` layers (YAML or JSON by suffix), line by line
    so the harness stays small; return how many values it holds (for --limit values)."""
    name = f"deep_{layers}"
    shape = list(DEEP_INPUT)
    pattern = [
        _yaml_flow(layer) if path.suffix == ".yaml" else json.dumps(layer) for layer in DEEP_PATTERN
    ]
    with path.open("w", encoding="utf-8") as out:
        if path.suffix == ".yaml":
            out.write(f"specgen: 1\nname: {name}\ninput: {{shape: {shape}}}\nlayers:\n")
            for index in range(layers):
                out.write(f"  - {pattern[index % len(pattern)]}\n")
        else:
            out.write(f'{{"specgen": 1, "name": "{name}", "input": {{"shape": {shape}}},\n')
            out.write(' "layers": [\n')
            for index in range(layers):
                comma = "," if index < layers - 1 else ""
                out.write(f"  {pattern[index % len(pattern)]}{comma}\n")
            out.write("]}\n")
    # Every mapping, key, scalar and list counts at most once: a generous upper bound.
    per_layer = [1 + 2 * len(layer) for layer in DEEP_PATTERN]
    return 16 + sum(per_layer[index % len(per_layer)] for index in range(layers))


def short_count(n: int) -> str:
    """1000 -> '1k', 100000 -> '100k', 300 -> '300'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def deep_section(workdir: Path, sizes: tuple[int, int, int]) -> Section:
    contenders: list[Contender] = []
    for layers in sizes:
        for fmt in ("yaml", "json"):
            path = workdir / f"deep_{layers}.{fmt}"
            values = write_deep(path, layers)
            size = path.stat().st_size
            limits: list[str] = []
            if layers > DEFAULT_LAYERS or size > DEFAULT_BYTES or values > DEFAULT_VALUES:
                limits = [
                    *("--limit", f"layers={layers}"),
                    *("--limit", f"bytes={max(size, DEFAULT_BYTES)}"),
                    *("--limit", f"values={max(values, DEFAULT_VALUES)}"),
                ]
            for command, args in (
                ("validate", ["validate"]),
                ("summary", ["summary", "--format", "json"]),
            ):
                contenders.append(
                    Contender(
                        f"{command}_{layers}_{fmt}",
                        f"{' '.join(args)}, {short_count(layers)} layers, {fmt.upper()}",
                        specgen_argv(*args, *limits, path.name),
                        heavy=layers == sizes[-1],
                        layers=layers,
                    )
                )
    _, mid, large = sizes
    ratios: list[Ratio] = []
    goals: list[Goal] = []
    for command in ("validate", "summary"):
        yaml_json = f"{command}: YAML / JSON at {short_count(mid)} layers"
        ratios.append(Ratio(yaml_json, f"{command}_{mid}_yaml", f"{command}_{mid}_json"))
        goals.append(Goal(f"{yaml_json}: within 1.5x", "ratio", yaml_json, "<=", 1.5))
        for fmt in ("yaml", "json"):
            name = fmt.upper()
            growth = (
                f"{command}, {name}: per layer, {short_count(large)} / {short_count(mid)} layers"
            )
            ratios.append(
                Ratio(growth, f"{command}_{large}_{fmt}", f"{command}_{mid}_{fmt}", per_layer=True)
            )
            goals += [
                Goal(
                    f"{command}, {short_count(mid)} layers, {name}: under 0.5 s",
                    "median_s",
                    f"{command}_{mid}_{fmt}",
                    "<",
                    0.5,
                ),
                Goal(f"{growth}: within 1.2x", "ratio", growth, "<=", 1.2),
                Goal(
                    f"{command}, {short_count(large)} layers, {name}: peak under 1 GiB",
                    "peak_mib",
                    f"{command}_{large}_{fmt}",
                    "<",
                    1024,
                ),
            ]
    raised = sorted({short_count(c.layers or 0) for c in contenders if "--limit" in c.argv})
    return Section(
        "deep",
        3,
        "Deep networks",
        f"Generated straight networks on an {list(DEEP_INPUT)} input: conv2d 3x3 (4 filters, "
        "same padding, no bias), batch_norm, activation relu, repeated. `summary --format json` "
        "output goes to /dev/null."
        + (
            f" The {', '.join(raised)}-layer specs exceed the default resource limits and run "
            "with `--limit` flags raising them."
            if raised
            else ""
        ),
        contenders,
        ratios,
        goals,
    )


def largest_zoo_model(workdir: Path) -> tuple[Path, int]:
    """The zoo spec with the most layers after block expansion, by `specgen summary`."""
    best: tuple[Path, int] | None = None
    for path in sorted(SPECS.glob("zoo/*.yaml")):
        argv = specgen_argv("summary", "--format", "json", str(path))
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=workdir)
        if done.returncode != 0:
            raise BenchmarkError(f"set-up `{display(argv)}` exited {done.returncode}")
        # The input counts as a node of the summary, not as a layer.
        layers = sum(1 for row in json.loads(done.stdout)["layers"] if row["type"] != "input")
        if best is None or layers > best[1]:
            best = (path, layers)
    assert best is not None, "specs/zoo holds no spec"
    return best


def emit_section(workdir: Path) -> Section:
    path, layers = largest_zoo_model(workdir)
    shutil.copy(path, workdir / path.name)
    contenders: list[Contender] = []
    goals: list[Goal] = []
    for target in ("keras", "pytorch"):
        contenders.append(
            Contender(
                f"emit_{target}",
                f"specgen emit --target {target}",
                specgen_argv("emit", path.name, "--target", target, "-o", f"out_{target}.py"),
            )
        )
        goals.append(
            Goal(
                f"cold emit of {path.stem}, {target}: under 0.5 s",
                "median_s",
                f"emit_{target}",
                "<",
                0.5,
            )
        )
    for target, framework in (("keras", "Keras"), ("pytorch", "PyTorch")):
        module = f"{path.stem}_{target}.py"
        prepare(specgen_argv("emit", path.name, "--target", target, "-o", module), workdir)
        contenders.append(
            Contender(
                f"build_{target}",
                f"{framework} build_model() (in-process)",
                python_argv(BUILD_TIMER, module),
                heavy=True,
                internal=True,
            )
        )
    return Section(
        "emit",
        4,
        f"Emit of the largest zoo model ({path.stem}, {layers} layers)",
        f"Cold `specgen emit specs/zoo/{path.name}` to a file, per target, and the time the "
        "emitted `build_model()` takes, measured inside a fresh python around that one call "
        "(imports left out); its peak is the whole process's.",
        contenders,
        [],
        goals,
    )


SECTIONS = ("cold", "many", "deep", "emit")


# -- results -----------------------------------------------------------------------------


def _r(value: float, digits: int = 6) -> float:
    return round(value, digits)


def section_results(
    section: Section, samples: dict[str, list[Sample]], workdir: Path
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    medians: dict[str, float] = {}
    for contender in section.contenders:
        taken = samples[contender.key]
        seconds = [s.seconds for s in taken]
        median = statistics.median(seconds)
        medians[contender.key] = median
        row: dict[str, Any] = {
            "key": contender.key,
            "label": contender.label,
            "command": display(contender.argv),
            "rounds": len(taken),
            "median_s": _r(median),
            "min_s": _r(min(seconds)),
            "max_s": _r(max(seconds)),
            "peak_kib": max(s.peak_kib for s in taken),
            "samples_s": [_r(s) for s in seconds],
            "samples_peak_kib": [s.peak_kib for s in taken],
            "internal": contender.internal,
        }
        if contender.layers is not None:
            row["layers"] = contender.layers
            row["per_layer_us"] = _r(median / contender.layers * 1e6, 3)
            row["bytes"] = (workdir / contender.argv[-1]).stat().st_size
        rows.append(row)
    layers = {c.key: c.layers or 1 for c in section.contenders}
    ratios: dict[str, float] = {}
    ratio_rows: list[dict[str, Any]] = []
    for ratio in section.ratios:
        num, den = medians[ratio.numerator], medians[ratio.denominator]
        if ratio.per_layer:
            num, den = num / layers[ratio.numerator], den / layers[ratio.denominator]
        ratios[ratio.label] = num / den
        ratio_rows.append(
            {
                "label": ratio.label,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "per_layer": ratio.per_layer,
                "ratio": _r(num / den, 4),
            }
        )
    by_key = {row["key"]: row for row in rows}
    goal_rows: list[dict[str, Any]] = []
    for goal in section.goals:
        value: float
        if goal.metric == "ratio":
            value, unit = ratios[goal.subject], "x"
        elif goal.metric == "median_s":
            value, unit = medians[goal.subject], "s"
        else:
            value, unit = by_key[goal.subject]["peak_kib"] / 1024, "MiB"
        met = value <= goal.limit if goal.op == "<=" else value < goal.limit
        goal_rows.append(
            {
                "label": goal.label,
                "metric": goal.metric,
                "subject": goal.subject,
                "value": _r(value, 4),
                "unit": unit,
                "op": goal.op,
                "limit": goal.limit,
                "met": met,
            }
        )
    return {
        "name": section.name,
        "number": section.number,
        "title": section.title,
        "note": section.note,
        "rows": rows,
        "ratios": ratio_rows,
        "goals": goal_rows,
    }


def _version(distribution: str) -> str | None:
    # Imported here, after the measurements: it would add 3 MiB to the harness's peak.
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("specgen-cnn", "tensorflow", "keras", "torch", "check-jsonschema")
        },
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


# -- rendering ---------------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def _value(goal: dict[str, Any]) -> str:
    if goal["unit"] == "x":  # three places: 0.602x must not read as the 0.60x it misses
        return f"{goal['value']:.3f}x"
    if goal["unit"] == "s":
        return f"{goal['value']:.3f} s"
    return f"{goal['value']:.1f} MiB"


def _limit(goal: dict[str, Any]) -> str:
    unit = {"x": "x", "s": " s", "MiB": " MiB"}[goal["unit"]]
    return f"{goal['op']} {goal['limit']:g}{unit}"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """A Markdown table padded to line up in a terminal too; columns in `right` right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        padded = (
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (width - 1) + ":" if index in right else "-" * width
        for index, width in enumerate(widths)
    ]
    return [line(header), line(rule), *(line(row) for row in rows)]


def render_markdown(results: dict[str, Any]) -> str:
    """The tables and the goals, in Markdown, from the JSON `results` alone."""
    machine = results["machine"]
    versions = machine["versions"]
    tools = ", ".join(f"{name} {version}" for name, version in versions.items() if version)
    lines = [
        f"Measured {machine['date'][:10]} on {machine['platform']} ({machine['cpu']}, "
        f"{machine['cpu_count']} CPUs), Python {machine['python']}; {tools}; "
        f"Keras backend {machine['keras_backend']}.",
        "",
        f"`{results['command']}`: {_plural(results['rounds'], 'interleaved round')}, "
        f"{results['heavy_rounds']} for the heavy rows (see the rounds column); every figure "
        "is a fresh process: median, min and max of its time, largest peak RSS; ratios are of "
        f"the medians. The harness's own peak, {_mib(results['harness_peak_kib'])}, is a floor "
        f"under every peak. Total run time {results['total_seconds']:.0f} s.",
    ]
    goals: list[dict[str, Any]] = []
    for section in results["sections"]:
        lines += ["", f"### {section['number']}. {section['title']}", "", section["note"], ""]
        deep = any("layers" in row for row in section["rows"])
        header = ["", "rounds", "median", "min", "max", "peak"]
        if deep:
            header.insert(3, "per layer")
        rows: list[list[str]] = []
        for row in section["rows"]:
            cells = [
                row["label"],
                str(row["rounds"]),
                _seconds(row["median_s"]),
                _seconds(row["min_s"]),
                _seconds(row["max_s"]),
                _mib(row["peak_kib"]),
            ]
            if deep:
                cells.insert(3, f"{row['per_layer_us']:.1f} µs")
            rows.append(cells)
        lines += _table(header, rows, set(range(1, len(header))))
        if section["ratios"]:
            lines.append("")
            lines += _table(
                ["ratio of medians", ""],
                [[ratio["label"], f"{ratio['ratio']:.2f}x"] for ratio in section["ratios"]],
                {1},
            )
        goals += section["goals"]
    met = sum(1 for goal in goals if goal["met"])
    lines += ["", f"### Goals: {met} of {len(goals)} met", ""]
    lines += _table(
        ["goal", "measured", "target", ""],
        [
            [goal["label"], _value(goal), _limit(goal), "met" if goal["met"] else "not met"]
            for goal in goals
        ],
        {1},
    )
    return "\n".join(lines) + "\n"


# -- the command -------------------------------------------------------------------------


def section_choice(text: str) -> str:
    if text.isdigit() and 1 <= int(text) <= len(SECTIONS):
        return SECTIONS[int(text) - 1]
    if text in SECTIONS:
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected one of {', '.join(SECTIONS)} or 1-{len(SECTIONS)}"
    )


def build_section(name: str, workdir: Path, quick: bool) -> Section:
    builders: dict[str, Callable[[], Section]] = {
        "cold": lambda: cold_section(workdir),
        "many": lambda: many_section(workdir, 20 if quick else 1_000),
        "deep": lambda: deep_section(
            workdir, (10, 100, 1_000) if quick else (1_000, 10_000, 100_000)
        ),
        "emit": lambda: emit_section(workdir),
    }
    return builders[name]()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--heavy-rounds",
        type=int,
        default=3,
        help="rounds for the framework routes and the largest deep specs (default 3)",
    )
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument("--markdown", type=Path, help="write the Markdown tables here")
    parser.add_argument(
        "--only",
        nargs="+",
        type=section_choice,
        metavar="SECTION",
        help=f"run these sections only: {', '.join(SECTIONS)} (or 1-{len(SECTIONS)})",
    )
    parser.add_argument("--quick", action="store_true", help="one round, small sizes")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else max(1, args.rounds)
    heavy_rounds = min(rounds, max(1, args.heavy_rounds))
    names = [name for name in SECTIONS if args.only is None or name in args.only]
    for program in ("specgen", "check-jsonschema"):
        if not (BIN / program).exists():
            print(f"{BIN / program} not found: pip install -e '.[test]'", file=sys.stderr)
            return 2
    started = time.perf_counter()
    sections: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="specgen-bench-") as tmp:
            workdir = Path(tmp)
            shutil.copy(SCHEMA, workdir / SCHEMA.name)
            for name in names:
                section = build_section(name, workdir, args.quick)
                print(f"{section.number}. {section.title}", file=sys.stderr, flush=True)
                samples = run_section(section, workdir, rounds, heavy_rounds)
                sections.append(section_results(section, samples, workdir))
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 2
    command = ["python", "benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)]
    results: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "command": shlex.join(command),
        "machine": machine_info(),
        "rounds": rounds,
        "heavy_rounds": heavy_rounds,
        "quick": args.quick,
        "harness_peak_kib": _peak_kib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "total_seconds": _r(time.perf_counter() - started, 1),
        "sections": sections,
    }
    text = render_markdown(results)
    print(text, end="")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    missed = [g for s in sections for g in s["goals"] if not g["met"]]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
