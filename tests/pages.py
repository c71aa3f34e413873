"""The emulator's pages made small, so a few items page as a large tenant's would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from maa_guard.emulator import odata


@contextmanager
def pages_of_at_most(items: int) -> Iterator[None]:
    """Every page the emulator serves holds at most ``items`` items (``$top`` still lower)."""
    page_size = odata.page_size

    def small_page(query: Any, endpoint_class: str) -> Any:
        size = page_size(query, endpoint_class)
        return min(size, items) if isinstance(size, int) else size

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(odata, "page_size", small_page)
        yield
