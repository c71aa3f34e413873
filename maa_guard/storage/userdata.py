"""Where maa-guard keeps its databases when no path is given (the platform's user data folder),
and how a database file is created: private to its owner, as it holds tenant data."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP_FOLDER = "maa-guard"


def user_data_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """``$XDG_DATA_HOME/maa-guard`` (``~/.local/share``) on Linux, ``%LOCALAPPDATA%\\maa-guard``
    on Windows, ``~/Library/Application Support/maa-guard`` on macOS. Not created here."""
    env = os.environ if environ is None else environ
    system = sys.platform if platform is None else platform
    if system.startswith("win"):
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif system == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_FOLDER


def default_database(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """A database file in the user data folder, e.g. ``state.db`` or ``history.db``."""
    return user_data_dir(environ) / name


def create_private_file(path: Path) -> None:
    """Create ``path`` empty, 0600, its folder 0700 when the folder is new too, whatever the
    umask. An existing file or folder keeps its mode: its owner chose it (or an older
    maa-guard did). Raises OSError."""
    for folder in reversed((path.parent, *path.parent.parents)):
        if not folder.exists():  # mkdir(parents=True) would give the new parents the umask's mode
            folder.mkdir(mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
