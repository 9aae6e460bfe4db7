"""How long specgen takes on each hostile file (tests/hostile), against a peer.

    python benchmarks/hostile.py [--rounds N] [--json OUT]

Each file is checked in-process (``specgen validate --format json FILE`` through
`specgen.cli.main`, output discarded), so interpreter and import start-up are left out:
what is measured is what the file itself costs. Next to it, in the same round, the peer:
the standard library's own parser on the same bytes (``json.loads``; for YAML, libyaml's
event stream, which expands no alias) - the least any tool must spend to read the file.
Rounds are interleaved (every file once per round, the peer right after), so a busy
machine slows both alike; the table gives the median, min and max of specgen's times and
the ratio of the medians.

The goal (issue 8) is under a second per file at the default limits; the script exits 1
when a median is not. The JSON holds every figure of the table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

import specgen.cli
from specgen import __version__

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "hostile"
GOAL_SECONDS = 1.0


def specgen_time(path: Path) -> float:
    sink = io.StringIO()
    start = time.perf_counter()
    with (
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        contextlib.suppress(SystemExit),
    ):
        specgen.cli.main(["validate", "--format", "json", str(path)])
    return time.perf_counter() - start


def peer_time(path: Path) -> float:
    raw = path.read_bytes()
    start = time.perf_counter()
    try:
        if path.suffix == ".json":
            json.loads(raw)
        else:
            for _ in yaml.parse(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                pass
    except (ValueError, RecursionError, yaml.YAMLError):
        pass  # what the peer refuses, it refuses at its own speed
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    files = sorted(p for p in HOSTILE.iterdir() if p.is_file())
    times: dict[str, list[float]] = {p.name: [] for p in files}
    peers: dict[str, list[float]] = {p.name: [] for p in files}
    for _ in range(args.rounds):
        for path in files:
            times[path.name].append(specgen_time(path))
            peers[path.name].append(peer_time(path))
    rows: list[dict[str, Any]] = []
    for path in files:
        mine, theirs = times[path.name], peers[path.name]
        median, peer = statistics.median(mine), statistics.median(theirs)
        rows.append(
            {
                "file": path.name,
                "bytes": path.stat().st_size,
                "median_s": round(median, 4),
                "min_s": round(min(mine), 4),
                "max_s": round(max(mine), 4),
                "peer_median_s": round(peer, 4),
                "ratio_to_peer": round(median / peer, 1) if peer > 0 else None,
                "under_goal": median < GOAL_SECONDS,
            }
        )
    print(f"{'file':36} {'bytes':>9} {'median':>8} {'min':>7} {'max':>7} {'peer':>8} {'ratio':>7}")
    for row in rows:
        ratio = "-" if row["ratio_to_peer"] is None else f"{row['ratio_to_peer']}x"
        print(
            f"{row['file']:36} {row['bytes']:>9,} {row['median_s']:>7.3f}s {row['min_s']:>6.3f}s "
            f"{row['max_s']:>6.3f}s {row['peer_median_s']:>7.3f}s {ratio:>7}"
        )
    slow = [row["file"] for row in rows if not row["under_goal"]]
    worst = max(rows, key=lambda row: row["median_s"])
    print(
        f"{len(rows)} files, {args.rounds} rounds; slowest {worst['file']} "
        f"({worst['median_s']:.3f} s median); goal < {GOAL_SECONDS:.0f} s: "
        + ("met" if not slow else f"missed by {', '.join(slow)}")
    )
    if args.json:
        payload = {
            "specgen": __version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "rounds": args.rounds,
            "goal_seconds": GOAL_SECONDS,
            "files": rows,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
