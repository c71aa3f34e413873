"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _no_columns_from_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output does not depend on the terminal that runs the tests: the CLI takes its width from
    ``COLUMNS`` when set, and argparse's help does too."""
    monkeypatch.delenv("COLUMNS", raising=False)
