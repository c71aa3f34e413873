"""Atomic file output: a reader never sees a half-written report, baseline or page.

Only regular files are written. A target that exists and is anything else (a folder, a named
pipe, a device, a socket, a link to one of those or to nothing) is refused with exit 2 and left
as it was: replacing ``/dev/full`` or a pipe with a report helps nobody. A symbolic link to a
regular file is followed, so the file it points at is replaced and the link stays; except a
link that someone else put in a shared sticky folder such as ``/tmp``, which is the kernel's
``protected_symlinks`` rule and the classic way to make a program overwrite another file. A
replaced file keeps its mode (and, where allowed, its owner and group); a new one gets the
ordinary mode (0666 less the umask).

``check_output_target`` is the same check before any work, plus the command's inputs: an
output that is one of them (same resolved path, or same device and inode) is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from maa_guard.errors import OutputError

KIND_HINT = "name a regular file, or a new one"
INPUT_HINT = "write the output to another file"
LINK_HINT = "name the file it points at, if you mean to replace it"
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_output_target(path: Path, inputs: Iterable[tuple[str, Path]] = ()) -> None:
    """Refuse (exit 2) a target that is not a regular file, or that is one of ``inputs``:
    (label, path) pairs such as ("--snapshot", Path("tenant.json"))."""
    destination = output_destination(path)
    for label, source in inputs:
        if _same_file(destination, source):
            raise OutputError(
                f"cannot write {path}: it is an input of this command ({label})", INPUT_HINT
            )


def output_destination(path: Path) -> Path:
    """The file to replace: ``path``, or the regular file a symbolic link points at."""
    info = _stat(path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(
            f"cannot write {path}: it is {_kind(info)}, not a regular file", KIND_HINT
        )
    if not path.is_symlink():
        return path
    if info is None:
        raise OutputError(f"cannot write {path}: it is a symbolic link to nothing", KIND_HINT)
    if _planted(path):
        raise OutputError(
            f"cannot write {path}: it is a symbolic link someone else put in a shared folder",
            LINK_HINT,
        )
    return Path(os.path.realpath(path))


def _stat(path: Path) -> os.stat_result | None:
    """Following links; None when nothing is there (or it cannot be looked at: then the
    write itself reports why)."""
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


def _kind(info: os.stat_result) -> str:
    return next((name for test, name in _KINDS if test(info.st_mode)), "not a file")


def _planted(link: Path) -> bool:
    """A link in a sticky, world-writable folder, owned by neither us nor the folder's owner."""
    uid = getattr(os, "geteuid", None)
    if uid is None:
        return False
    try:
        owner, folder = link.lstat().st_uid, link.parent.stat()
    except OSError:
        return False
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    return bool(shared) and owner not in (uid(), folder.st_uid)


def _same_file(destination: Path, source: Path) -> bool:
    mine, theirs = _stat(destination), _stat(source)
    if mine is not None and theirs is not None:
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
    return _resolved(destination) == _resolved(source)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: compare the names as given
        return path.absolute()


def write_atomically(path: Path, text: str) -> None:
    write_all_atomically([(path, (text,))])


def write_all_atomically(files: Sequence[tuple[Path, Iterable[str]]]) -> None:
    """Write every file to a temporary sibling, then rename them all; on failure, none."""
    staged: list[tuple[Path, Path]] = []
    current = None
    try:
        for current, chunks in files:
            destination = output_destination(current)
            staged.append((_stage(destination, chunks), destination))
        for temporary, destination in staged:
            current = destination
            temporary.replace(destination)
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
        _take_over(temporary, _stat(path))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _take_over(temporary: Path, replaced: os.stat_result | None) -> None:
    """mkstemp makes 0600: give the new file the mode of the one it replaces, or the ordinary
    mode of a new file; keep the replaced file's owner and group where we may."""
    if replaced is None:
        temporary.chmod(_ordinary_mode())
        return
    mine = temporary.stat()
    if (mine.st_uid, mine.st_gid) != (replaced.st_uid, replaced.st_gid) and hasattr(os, "chown"):
        with contextlib.suppress(OSError):
            os.chown(temporary, replaced.st_uid, replaced.st_gid)
    temporary.chmod(stat.S_IMODE(replaced.st_mode))
