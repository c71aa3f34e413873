"""Shared test fixtures, and the ``e2e`` mark.

A module that starts the Graph emulator, runs the demo (which starts one) or runs the tool as a
subprocess is marked ``e2e`` as a whole. CI runs every test once, and under the other supported
Pythons only ``-m "not e2e"``: the end-to-end matrix is the slow part and does not depend on the
interpreter's version the way parsing, typing and the standard library's behaviour do.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
END_TO_END_SIGNS = ("Emulator(", "make_rig(", "collect_demo", '"--demo"', "subprocess")


@cache
def _end_to_end(module: Path) -> bool:
    text = module.read_text(encoding="utf-8")
    return any(sign in text for sign in END_TO_END_SIGNS)


def pytest_collection_modifyitems(items: Iterable[pytest.Item]) -> None:
    for item in items:
        if _end_to_end(Path(str(item.fspath))):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _no_columns_from_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output does not depend on the terminal that runs the tests: the CLI takes its width from
    ``COLUMNS`` when set, and argparse's help does too."""
    monkeypatch.delenv("COLUMNS", raising=False)
