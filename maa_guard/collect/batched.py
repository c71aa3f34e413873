"""GETs that depend on nothing but what is already known, sent together in ``$batch``.

A :class:`Read` is one GET: a path relative to the version root and its query options.
:func:`read_together` sends any number of them (20 to a ``$batch``, inner 429 and 5xx retried by
the client) and gives each its :class:`Answer`, which is then read as the GET's own answer
would be: an object's body, or every item of a collection (its ``@odata.nextLink`` pages
followed with plain GETs). A failed read raises the :class:`GraphError` the request it replaces
would raise, named the same way, so a source judges a batched read and its GET alike.

Graph runs every item of a batch under the batch's version root, so reads Graph serves from
``v1.0`` go in a batch of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.paging import JsonObject
from maa_guard.collect.wire import graph_error

# OData punctuation stays readable in a batch item's URL; spaces and the rest are encoded.
_KEPT = "$,'():/"


@dataclass(frozen=True, slots=True)
class Read:
    """``shown``: what an error names (:func:`read`: the path, :func:`batch_read`: the URL)."""

    path: str
    query: tuple[tuple[str, str], ...] = ()
    shown: str = ""

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def url(self) -> str:
        """The batch item's URL, relative to the version root."""
        return f"{self.path}?{query_text(self.params)}" if self.query else self.path


def read(path: str, params: Mapping[str, str] | None = None) -> Read:
    """A read replacing ``client.get(path, params)``; its errors name the path alone."""
    return Read(path, tuple((params or {}).items()), path)


def batch_read(path: str, params: Mapping[str, str]) -> Read:
    """A read replacing a ``client.batch_get`` item; its errors name the path and query."""
    url = read(path, params).url
    return Read(path, tuple(params.items()), url)


def odata_literal(text: str) -> str:
    """An OData string literal: in single quotes, each quote doubled."""
    return "'" + text.replace("'", "''") + "'"


def query_text(params: Mapping[str, str]) -> str:
    """``$select=id,displayName&$top=999``: each value percent-encoded but OData's punctuation."""
    return "&".join(f"{name}={quote(value, safe=_KEPT)}" for name, value in params.items())


@dataclass(frozen=True, slots=True)
class Answer:
    """One read's answer from a ``$batch``; ``raw`` is its JSON body (``{}`` when none)."""

    read: Read
    status: int
    raw: JsonObject
    version: str = "beta"

    @property
    def missing(self) -> bool:
        """404: the object does not exist (a source usually leaves it out)."""
        return self.status == 404

    def error(self) -> GraphError | None:
        if self.status < 300:
            return None
        return graph_error(self.read.shown or self.read.path, self.status, self.raw)

    def body(self) -> JsonObject:
        error = self.error()
        if error is not None:
            raise error
        return self.raw

    async def items(self, client: GraphClient) -> list[JsonObject]:
        """Every item of the collection read: this first page and the pages after it."""
        first = self.body()
        return await client.get_all(self.read.path, self.read.params, self.version, first=first)

    async def items_or_error(self, client: GraphClient) -> list[JsonObject] | GraphError:
        try:
            return await self.items(client)
        except GraphError as error:
            return error


async def read_together(
    client: GraphClient, reads: Iterable[Read], version: str = "beta"
) -> dict[Read, Answer]:
    """Each read's answer (a read named twice is sent once)."""
    distinct = list(dict.fromkeys(reads))
    answers = await client.batch_get([r.url for r in distinct], version)
    return {
        r: Answer(r, answer.status, answer.body, version)
        for r, answer in zip(distinct, answers, strict=True)
    }
