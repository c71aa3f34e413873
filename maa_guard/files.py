"""Atomic file output: a reader never sees a half-written report, baseline or page."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    write_all_atomically([(path, (text,))])


def write_all_atomically(files: Sequence[tuple[Path, Iterable[str]]]) -> None:
    """Write every file to a temporary sibling, then rename them all; on failure, none."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, chunks in files:
            staged.append((_stage(path, chunks), path))
        for temporary, path in staged:
            temporary.replace(path)
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise


def _stage(path: Path, chunks: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.writelines(chunks)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
