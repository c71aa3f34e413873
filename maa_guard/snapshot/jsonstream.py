"""Reads a JSON object member by member, yielding the items of array members one at a time.

A snapshot of a large tenant is one object whose members are long arrays (200,000 audit
events). ``json.load`` would hold the whole tree of dicts (about 5x the file) before any of it
is decoded; this reader keeps a window of the text and lets each array item be decoded into a
compact dataclass and dropped. Each item is still parsed by the standard library's C scanner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

_WHITESPACE = " \t\n\r"
_NUMBER_CHARACTERS = "0123456789+-.eE"
CHUNK = 1 << 20


class StreamError(ValueError):
    """Malformed JSON, with the 1-based line and column where it was found."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} at line {line} column {column}")
        self.message, self.line, self.column = message, line, column


class Items:
    """The items of one array member; iterate it before asking for the next member."""

    def __init__(self, stream: JsonStream) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[Any]:
        return self._stream.array_items()


class JsonStream:
    def __init__(self, handle: TextIO, chunk_size: int = CHUNK) -> None:
        self._handle, self._chunk_size = handle, chunk_size
        self._buffer, self._pos, self._eof = "", 0, False
        self._lines_before, self._column_before = 0, 0
        self._decoder = json.JSONDecoder()

    def members(self) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` for each member; an array value comes as an ``Items`` iterable."""
        self._expect("{")
        if self._peek() == "}":
            self._pos += 1
        else:
            yield from self._member_list()
        if self._peek() != "":
            self._fail("Extra data")

    def _member_list(self) -> Iterator[tuple[str, Any]]:
        while True:
            if self._peek() != '"':
                self._fail("Expecting property name enclosed in double quotes")
            key = self._value()
            self._expect(":")
            if self._peek() == "[":
                items = Items(self)
                yield key, items
            else:
                yield key, self._value()
            if self._separator("}"):
                return

    def array_items(self) -> Iterator[Any]:
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._separator("]"):
                return

    def _separator(self, closing: str) -> bool:
        """Consumes ``,`` (False) or the closing bracket (True)."""
        found = self._peek()
        if found not in (",", closing):
            self._fail(f"Expecting ',' delimiter or '{closing}'")
        self._pos += 1
        return found == closing

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            self._fail(f"Expecting '{char}'")
        self._pos += 1

    def _peek(self) -> str:
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._refill():
                return ""

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                start = self._pos
                if self._refill():
                    continue
                raise self._error(error.msg, error.pos - start + self._pos) from None
            if self._number_may_go_on(value, end) and self._refill():
                continue
            self._pos = end
            return value

    def _number_may_go_on(self, value: Any, end: int) -> bool:
        """A number cut by the window edge ("12" of "123", "1." of "1.5") still parses."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return end == len(self._buffer) or self._buffer[end] in _NUMBER_CHARACTERS

    def _refill(self) -> bool:
        """Drops the consumed text and reads more; False (and no change) at the end of file."""
        if self._eof:
            return False
        chunk = self._handle.read(max(self._chunk_size, len(self._buffer)))
        if not chunk:
            self._eof = True
            return False
        consumed = self._buffer[: self._pos]
        self._lines_before += consumed.count("\n")
        last = consumed.rfind("\n")
        if last >= 0:
            self._column_before = len(consumed) - last - 1
        else:
            self._column_before += len(consumed)
        self._buffer, self._pos = self._buffer[self._pos :] + chunk, 0
        return True

    def _fail(self, message: str) -> Any:
        raise self._error(message, self._pos)

    def _error(self, message: str, position: int) -> StreamError:
        before = self._buffer[:position]
        line = before.count("\n")
        column = position - before.rfind("\n") if line else position + 1 + self._column_before
        return StreamError(message, self._lines_before + line + 1, column)
