"""Damaged snapshots through the whole command: load, evaluate, every report format.

Whatever the damage, the command either scans (exit 0, 1 or 3) with every report written, or
stops with one ``error:`` line, a hint and exit 2. Never an internal error or a traceback.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maa_guard.cli import main
from maa_guard.reporters import OutputFormat
from maa_guard.scan.served import demo_path

DEMO = json.loads(demo_path("snapshot.json").read_text(encoding="utf-8"))
HOSTILE = st.sampled_from(
    [
        "",
        "<script>alert(1)</script>",
        "[bold red]x[/]",
        "\x1b[2J",
        '=HYPERLINK("http://x")',
        "line\nbreak",
        "\u202eevil",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
    ]
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    HOSTILE,
    st.lists(HOSTILE, max_size=2),
    st.dictionaries(st.sampled_from(["id", "type", "displayName"]), HOSTILE, max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in children:
        found += _paths(value, (*prefix, key))
    return found


PATHS = _paths(DEMO)


def _damage(path: tuple[Any, ...], value: Any, delete: bool) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(DEMO)
    target = document
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), value=VALUES, delete=st.booleans())
def test_damaged_snapshot_scans_or_fails_cleanly(
    capsys: pytest.CaptureFixture[str], path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    # A folder of its own per example: files left by an earlier one must not pass for this one's.
    with tempfile.TemporaryDirectory() as folder:
        _scan_damaged(Path(folder), capsys, _damage(path, value, delete))


def _scan_damaged(
    folder: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any]
) -> None:
    snapshot = folder / "snapshot.json"
    snapshot.write_text(json.dumps(document), encoding="utf-8")
    outputs = [f"{fmt.value}={folder / ('out.' + fmt.value)}" for fmt in OutputFormat]
    argv = [
        "scan",
        "--snapshot",
        str(snapshot),
        "--config",
        str(demo_path("maa-guard.toml")),
        "--format",
        "json",
    ]
    for output in outputs:
        argv += ["--output", output]
    code = main(argv)
    _, err = capsys.readouterr()
    assert "internal error" not in err
    if code == 2:
        lines = err.splitlines()
        assert lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    else:
        assert code in (0, 1, 3)
        assert all((folder / ("out." + fmt.value)).stat().st_size > 0 for fmt in OutputFormat)
