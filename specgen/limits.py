"""Resource limits on the network a spec describes.

A 120-byte spec can ask for a 100,000,000 x 100,000,000 input and a dense layer of
100,000,000 units; the shape pass computes that in microseconds, but `emit` would hand
users a model that allocates terabytes. Every tensor, the parameter count, the MAC count
and the number of layers after block expansion are therefore bounded, and so is the file
itself (its bytes and its values). Past a bound the spec gets a located finding (SG211;
SG114 for block expansion; SG005 for the file), exit code 1.

The defaults sit far above any published CNN (the largest keras.applications model has
under 150 million parameters and 20 billion MACs at its own resolution) and far below
what would exhaust a machine, and the file bounds and the layer count keep a pre-commit
run fast on any file (tests/hostile holds one file at or past each bound). A project that
needs more raises them: `--limit NAME=VALUE` on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class Limits:
    """What a spec may ask for. Names are the `--limit` keys."""

    dimension: int = 1 << 20
    """Largest extent of any axis of any tensor (H, W, channels, units): 1,048,576."""
    elements: int = (1 << 31) - 1
    """Most elements of one tensor, per sample (8 GiB of float32)."""
    params: int = 10_000_000_000
    """Most parameters of the whole network (40 GB of float32)."""
    macs: int = 10**14
    """Most multiply-accumulates of one forward pass, per sample."""
    layers: int = 10_000
    """Most layers after block expansion (ten times the largest keras.applications model;
    a file at this and every other default bound is checked in under a second)."""
    bytes: int = 4 * 1024 * 1024
    """Largest spec file, in bytes (a pre-commit run stays fast on any file)."""
    values: int = 100_000
    """Most values (numbers, strings, lists, mappings) in one spec file."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_settings(self, settings: list[str]) -> Limits:
        """These limits with `NAME=VALUE` settings applied; ValueError says what is wrong."""
        changes: dict[str, int] = {}
        for setting in settings:
            name, sep, text = setting.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in self.names():
                raise ValueError(
                    f"--limit {setting!r}: expected NAME=VALUE with NAME one of "
                    + ", ".join(self.names())
                )
            changes[name] = _positive(setting, text.strip())
        return replace(self, **changes)


def _positive(setting: str, text: str) -> int:
    """`1000000`, `1_000_000` or `1e6` (an exact whole number), at least 1."""
    value: int | None = None
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if number == number and number not in (float("inf"), float("-inf")):
            value = int(number) if number == int(number) else None
    if value is None or not 1 <= value <= MAX_LIMIT:
        raise ValueError(
            f"--limit {setting!r}: the value must be a whole number from 1 to {MAX_LIMIT:,}"
        )
    return value


# The largest value any limit takes: past every real network and every machine, and
# small enough for every count and buffer size it bounds (1e15 bytes is a petabyte).
MAX_LIMIT = 10**15


DEFAULT_LIMITS = Limits()
