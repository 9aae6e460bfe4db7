"""``emit``: source for a target, to stdout or atomically to a file, or a ``--check`` diff."""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from specgen.check import FileResult, acknowledge
from specgen.diagnostics import Diagnostic
from specgen.targets import emit_source


@dataclass(slots=True)
class EmitOutcome:
    source: str | None = None
    findings: list[Diagnostic] = field(default_factory=list)
    diff: str = ""
    usage_error: str = ""
    exit_code: int = 0


def emit_file(result: FileResult, target: str, out: Path | None, *, check: bool) -> EmitOutcome:
    assert result.graph is not None and result.document is not None
    source, findings = emit_source(result.graph, target, result.path, result.document.raw)
    if source is None:
        return EmitOutcome(findings=findings, exit_code=1)
    # Warnings only: printed (unless the spec allows them), and the file is written.
    shown = [d for d in acknowledge(findings, result.graph, result.allow) if not d.allowed]
    outcome = EmitOutcome(source=source, findings=shown)
    if out is None:
        return outcome
    if check:
        try:
            current = out.read_text(encoding="utf-8") if out.exists() else ""
        except (OSError, UnicodeDecodeError) as error:
            outcome.usage_error = f"{out}: cannot read: {error}"
            return outcome
        if current != source:
            outcome.diff = drift(current, source, str(out), result.path)
            outcome.exit_code = 1
        return outcome
    outcome.usage_error = write_output(out, source) or ""
    return outcome


def drift(current: str, source: str, out: str, spec: str) -> str:
    """What `emit --check` prints for a stale file: a unified diff from the file on disk
    to what `spec` emits."""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            source.splitlines(keepends=True),
            fromfile=f"{out} (on disk)",
            tofile=f"{out} (from {spec})",
        )
    )


def current_text(path: Path) -> tuple[str | None, str | None]:
    """A generated file's text, or None and why it has none ('missing' is no reason)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return None, "a folder, not a file"
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


def write_output(out: Path, text: str) -> str | None:
    """Write a command's output to `out` (`-o`): through a symlink, refusing anything but
    a regular file, atomically. The usage error to report, or None when written."""
    try:
        destination = Path(os.path.realpath(out)) if out.is_symlink() else out
        if destination.exists() and not destination.is_file():
            return f"{out}: not a regular file; specgen writes only regular files"
    except OSError as error:  # a name too long, a folder it cannot enter
        return f"{out}: cannot write: {error.strerror or error}"
    try:
        write_atomically(destination, text)
    except OSError as error:
        return f"{out}: cannot write: {error.strerror or error}"
    return None


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename it over `path` (a regular
    file or none; a symlink is resolved by the caller, so the link stays a link).

    Readers see the old file or the new one, never half of either; on any error the
    old file is untouched and the temporary file is removed.
    """
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
