"""Paging safety: follow ``@odata.nextLink`` verbatim, but never in a circle.

A nextLink seen before in the same chain is a loop; a non-empty page whose item ids equal an
earlier page's is a repeated page. Both raise :class:`PagingError`. Items repeated across
pages (Graph may return an object twice while data changes) are dropped, first one wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maa_guard.collect.errors import PagingError

JsonObject = dict[str, Any]
MAX_PAGES = 100_000


@dataclass(slots=True)
class PageGuard:
    path: str
    links: set[str] = field(default_factory=set)
    pages: set[tuple[str, ...]] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    count: int = 0

    def accept(self, page: Mapping[str, Any]) -> tuple[list[JsonObject], str | None]:
        """The page's new items and the next link to follow (None at the end)."""
        self.count += 1
        if self.count > MAX_PAGES:
            raise PagingError(f"{self.path}: more than {MAX_PAGES} pages", path=self.path)
        items = _items(page, self.path)
        self._check_repeated_page(items)
        fresh = [item for item in items if self._is_new(item)]
        link = page.get("@odata.nextLink")
        if link is None:
            return fresh, None
        if not isinstance(link, str) or not link:
            raise PagingError(f"{self.path}: malformed @odata.nextLink", path=self.path)
        if link in self.links:
            raise PagingError(f"{self.path}: @odata.nextLink loop", path=self.path)
        self.links.add(link)
        return fresh, link

    def _check_repeated_page(self, items: Sequence[JsonObject]) -> None:
        key = tuple(str(item.get("id", "")) for item in items)
        if not key or not all(key):
            return
        if key in self.pages:
            raise PagingError(f"{self.path}: the same page was served twice", path=self.path)
        self.pages.add(key)

    def _is_new(self, item: JsonObject) -> bool:
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            return True
        if item_id in self.ids:
            return False
        self.ids.add(item_id)
        return True


def _items(page: Mapping[str, Any], path: str) -> list[JsonObject]:
    value = page.get("value")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PagingError(f"{path}: response has no 'value' list of objects", path=path)
    return value
