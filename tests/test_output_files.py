"""Every `--output`/`-o` target: only regular files are written, never one of the command's
inputs, and a replaced file keeps its mode.

A target that exists and is not a regular file (a named pipe, a folder, a device, a link to
one, a link to nothing) is refused with exit 2 before any work, and left as it was. A symbolic
link to a regular file is followed: the file it points at is replaced and the link stays.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from maa_guard.cli import main
from maa_guard.emulator import READER_TOKEN, Emulator, fixture_from_snapshot
from maa_guard.errors import EXIT_USAGE, OutputError
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot
from maa_guard.storage.files import write_all_atomically

DEMO_FILE = demo_path("snapshot.json")
INPUT_HINT = "hint: write the output to another file\n"
KIND_HINT = "hint: name a regular file, or a new one\n"


@dataclass(frozen=True)
class Files:
    """The inputs a command may read, all in one folder."""

    snapshot: Path
    later: Path
    config: Path
    baseline: Path
    tenants: Path
    url: str


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with Emulator(fixture_from_snapshot(load_snapshot(DEMO_FILE)), fixed_tokens=True) as emulator:
        yield emulator.url


@pytest.fixture
def files(tmp_path: Path, emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> Files:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", READER_TOKEN)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MAA_GUARD_HISTORY", raising=False)
    snapshot, later = tmp_path / "snap.json", tmp_path / "later.json"
    shutil.copy(DEMO_FILE, snapshot)
    shutil.copy(DEMO_FILE, later)
    config = tmp_path / "settings.toml"
    config.write_text('[scan]\nfail_on = "critical"\n', encoding="utf-8")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(
        '{"schema_version": 1, "tool": "maa-guard", "tenant_id": "t", "fingerprints": []}\n',
        encoding="utf-8",
    )
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        '[[tenants]]\nname = "Broken"\ntenant_id = "0b5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f70"\n'
        'auth = "certificate"\nclient_id = "app"\ncertificate_path = "missing.pem"\n'
        'config = "tenant.toml"\n',
        encoding="utf-8",
    )
    (tmp_path / "tenant.toml").write_text("", encoding="utf-8")
    return Files(snapshot, later, config, baseline, tenants, emulator_url)


Argv = Callable[[Files, str], list[str]]

COMMANDS: dict[str, Argv] = {
    "scan": lambda f, t: ["scan", "--snapshot", str(f.snapshot), "--format", "json",
                          "--output", f"json={t}"],
    "scan --write-baseline": lambda f, t: ["scan", "--snapshot", str(f.snapshot), "--format",
                                           "json", "--write-baseline", t],
    "snapshot": lambda f, t: ["snapshot", "--auth", "token", "--graph-endpoint", f.url,
                              "--quiet", "-o", t],
    "impact": lambda f, t: ["impact", "--snapshot", str(f.snapshot), "-o", f"json={t}"],
    "review": lambda f, t: ["review", "Intune Tag Sync", "--snapshot", str(f.snapshot),
                            "-o", f"json={t}"],
    "exclusions export": lambda f, t: ["exclusions", "export", "--snapshot", str(f.snapshot),
                                       "-o", t],
    "exclusions draft": lambda f, t: ["exclusions", "draft", "--snapshot", str(f.snapshot),
                                      "--policy", "Apps - Windows", "--remove",
                                      "Patch My PC Cloud", "--justification", "rotate the app",
                                      "-o", t],
    "diff": lambda f, t: ["diff", str(f.snapshot), str(f.later), "-o", f"json={t}"],
    "fleet scan": lambda f, t: ["fleet", "scan", "--tenants", str(f.tenants), "--quiet",
                                "--format", "json", "--output", f"json={t}"],
}  # fmt: skip


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "a named pipe"


def _folder(path: Path) -> str:
    path.mkdir()
    return "a folder"


def _link_to_device(path: Path) -> str:
    path.symlink_to(os.devnull)
    return "a character device"


def _link_to_nothing(path: Path) -> str:
    path.symlink_to(path.parent / "nowhere.json")
    return "a symbolic link to nothing"


NOT_FILES: dict[str, Callable[[Path], str]] = {
    "fifo": _fifo,
    "folder": _folder,
    "link to a device": _link_to_device,
    "dangling link": _link_to_nothing,
}


def _shape(path: Path) -> tuple[int, str]:
    """What is at ``path`` without following a link: its type bits and its link target."""
    info = path.lstat()
    return stat.S_IFMT(info.st_mode), os.readlink(path) if path.is_symlink() else ""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_target_that_is_not_a_regular_file_is_refused(
    command: str, kind: str, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    target = files.snapshot.parent / "target.out"
    what = NOT_FILES[kind](target)
    before = _shape(target)
    code = main(COMMANDS[command](files, str(target)))
    assert code == EXIT_USAGE
    reason = f"it is {what}" if kind == "dangling link" else f"it is {what}, not a regular file"
    assert capsys.readouterr().err == f"error: cannot write {target}: {reason}\n{KIND_HINT}"
    assert _shape(target) == before


@pytest.mark.skipif(os.geteuid() != 0 if hasattr(os, "geteuid") else True, reason="mknod")
def test_a_device_node_is_refused_and_left_as_it_is(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    device = files.snapshot.parent / "full"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # like /dev/full
    code = main(COMMANDS["scan"](files, str(device)))
    assert code == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: cannot write {device}: it is a character device, not a regular file\n{KIND_HINT}"
    )
    assert stat.S_ISCHR(device.lstat().st_mode)


Collision = tuple[list[str], str, Path, str]  # argv, the target as named, the input, its label


def _default_config(files: Files) -> Collision:
    config = files.snapshot.parent / "maa-guard.toml"
    config.write_text("", encoding="utf-8")
    return COMMANDS["scan"](files, "maa-guard.toml"), "maa-guard.toml", config, "configuration"


def _link_to_snapshot(files: Files) -> Collision:
    link = files.snapshot.parent / "alias.json"
    link.symlink_to(files.snapshot)
    return COMMANDS["scan"](files, str(link)), str(link), files.snapshot, "--snapshot"


def _hard_link_to_snapshot(files: Files) -> Collision:
    other = files.snapshot.parent / "sub" / "same.json"
    other.parent.mkdir()
    os.link(files.snapshot, other)
    return COMMANDS["scan"](files, str(other)), str(other), files.snapshot, "--snapshot"


def _onto(
    command: str, victim: Callable[[Files], Path], label: str, *extra: str
) -> Callable[[Files], Collision]:
    """``command`` writing its output onto one of its inputs."""

    def case(files: Files) -> Collision:
        path = victim(files)
        more = [str(path) if item == "{}" else item for item in extra]
        return [*COMMANDS[command](files, str(path)), *more], str(path), path, label

    return case


COLLISIONS: dict[str, Callable[[Files], Collision]] = {
    "scan --snapshot": _onto("scan", lambda f: f.snapshot, "--snapshot"),
    "scan, a link to --snapshot": _link_to_snapshot,
    "scan, a hard link to --snapshot": _hard_link_to_snapshot,
    "scan --config": _onto("scan", lambda f: f.config, "--config", "--config", "{}"),
    "scan, maa-guard.toml": _default_config,
    "scan --baseline": _onto(
        "scan --write-baseline", lambda f: f.baseline, "--baseline", "--baseline", "{}"
    ),
    "scan --history": _onto("scan", lambda f: f.later, "--history", "--record", "--history", "{}"),
    "snapshot --config": _onto("snapshot", lambda f: f.config, "--config", "--config", "{}"),
    "impact --snapshot": _onto("impact", lambda f: f.snapshot, "--snapshot"),
    "review --snapshot": _onto("review", lambda f: f.snapshot, "--snapshot"),
    "exclusions export --snapshot": _onto("exclusions export", lambda f: f.snapshot, "--snapshot"),
    "exclusions draft --snapshot": _onto("exclusions draft", lambda f: f.snapshot, "--snapshot"),
    "diff B": _onto("diff", lambda f: f.later, "B"),
    "fleet --tenants": _onto("fleet scan", lambda f: f.tenants, "--tenants"),
    "fleet, a tenant's config": lambda f: (
        COMMANDS["fleet scan"](f, "tenant.toml"),
        "tenant.toml",
        f.tenants.parent / "tenant.toml",
        "the configuration of tenant Broken",
    ),
}


@pytest.mark.parametrize("case", COLLISIONS)
def test_an_output_that_is_one_of_the_inputs_is_refused(
    case: str, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, target, victim, label = COLLISIONS[case](files)
    before = victim.read_bytes()
    code = main(argv)
    assert code == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: cannot write {target}: it is an input of this command ({label})\n{INPUT_HINT}"
    )
    assert victim.read_bytes() == before


def test_a_new_history_file_named_as_an_output_is_refused(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    history = files.snapshot.parent / "history.db"
    code = main([*COMMANDS["scan"](files, str(history)), "--record", "--history", str(history)])
    assert code == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: cannot write {history}: it is an input of this command (--history)\n{INPUT_HINT}"
    )
    assert not history.exists()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_replacing_a_report_keeps_its_mode(
    mode: int, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    report = files.snapshot.parent / "report.json"
    report.write_text("old", encoding="utf-8")
    report.chmod(mode)
    assert main(COMMANDS["scan"](files, str(report))) == 1
    assert stat.S_IMODE(report.stat().st_mode) == mode
    assert report.read_text(encoding="utf-8").startswith("{")


def test_a_new_report_is_an_ordinary_file(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    report = files.snapshot.parent / "new.json"
    previous = os.umask(0o022)
    try:
        assert main(COMMANDS["scan"](files, str(report))) == 1
    finally:
        os.umask(previous)
    assert stat.S_IMODE(report.stat().st_mode) == 0o644


def test_a_link_to_a_regular_file_replaces_the_file_and_keeps_the_link(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    real = files.snapshot.parent / "reports" / "current.json"
    real.parent.mkdir()
    real.write_text("old", encoding="utf-8")
    real.chmod(0o640)
    link = files.snapshot.parent / "latest.json"
    link.symlink_to(real)
    assert main(COMMANDS["scan"](files, str(link))) == 1
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8").startswith("{")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["current.json"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="Linux /proc")
def test_a_link_to_standard_output_is_refused(files: Files) -> None:
    link = files.snapshot.parent / "stdout.json"
    link.symlink_to("/proc/self/fd/1")
    ran = subprocess.run(
        [sys.executable, "-m", "maa_guard", *COMMANDS["scan"](files, str(link))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == EXIT_USAGE
    assert ran.stderr == (
        f"error: cannot write {link}: it is a named pipe, not a regular file\n{KIND_HINT}"
    )
    assert ran.stdout == ""
    assert link.is_symlink()


@pytest.mark.skipif(os.geteuid() != 0 if hasattr(os, "geteuid") else True, reason="lchown")
def test_a_link_planted_by_someone_else_in_a_shared_folder_is_not_followed(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = files.snapshot.parent / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    victim = files.snapshot.parent / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    planted = shared / "report.json"
    planted.symlink_to(victim)
    os.lchown(planted, 65534, 65534)
    code = main(COMMANDS["scan"](files, str(planted)))
    assert code == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: cannot write {planted}: it is a symbolic link someone else put in a shared "
        f"folder\nhint: name the file it points at, if you mean to replace it\n"
    )
    assert victim.read_text(encoding="utf-8") == "keep me"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_the_writer_refuses_a_pipe_and_writes_none_of_the_set(tmp_path: Path) -> None:
    good, pipe = tmp_path / "good.txt", tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OutputError) as refused:
        write_all_atomically([(good, ["a"]), (pipe, ["b"])])
    assert refused.value.message == f"cannot write {pipe}: it is a named pipe, not a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
