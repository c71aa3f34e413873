"""Atomic file output: a reader never sees a half-written report, baseline or page."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from maa_guard.errors import OutputError


def write_atomically(path: Path, text: str) -> None:
    write_all_atomically([(path, (text,))])


def write_all_atomically(files: Sequence[tuple[Path, Iterable[str]]]) -> None:
    """Write every file to a temporary sibling, then rename them all; on failure, none."""
    staged: list[tuple[Path, Path]] = []
    current = None
    try:
        for current, chunks in files:
            staged.append((_stage(current, chunks), current))
        for temporary, current in staged:
            temporary.replace(current)
    except OSError as error:
        _discard(staged)
        raise OutputError(
            f"cannot write {current}: {error.strerror or error}",
            "check that the folder exists and is writable",
        ) from None
    except BaseException:
        _discard(staged)
        raise


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for temporary, _ in staged:
        temporary.unlink(missing_ok=True)


def _ordinary_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _stage(path: Path, chunks: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.writelines(chunks)
        temporary.chmod(_ordinary_mode())  # mkstemp makes 0600; a report is an ordinary file
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
