"""Strict JSON <-> frozen dataclass conversion, driven by the dataclasses' type hints.

Decoders are built once per class and cached. Errors carry the JSON path of the problem,
e.g. ``policies[3].approverGroupIds: expected a list of strings``. Unknown keys are ignored,
because Graph adds properties over time; a missing required key or a wrong type is an error.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from typing import Any, TypeVar

from maa_guard.snapshot.gcpause import paused_gc

T = TypeVar("T")
Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]

_FRACTION = re.compile(r"\.(\d+)")


class DecodeError(Exception):
    """A value that does not fit its declared type; ``path`` is built on the way out."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.parts: list[str] = []

    def within(self, part: str) -> DecodeError:
        # Keys come from the file: an escape sequence or a newline must not reach a terminal.
        self.parts.append(part if part.isprintable() else repr(part))
        return self

    @property
    def path(self) -> str:
        text = ""
        for part in reversed(self.parts):
            text += part if part.startswith("[") or not text else "." + part
        return text or "(document)"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def json_name(cls: type, field: dataclasses.Field[Any]) -> str:
    return camel_case(field.name) if getattr(cls, "GRAPH_SHAPED", False) else field.name


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with a time zone; accepts ``Z`` and Graph's seven-digit fractions on 3.10."""
    normalised = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError:
        padded = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], normalised, count=1)
        moment = datetime.fromisoformat(padded)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("out of range in UTC") from None


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# ---- decoders -------------------------------------------------------------------------


def _scalar(kind: type, article: str) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not kind:
            raise DecodeError(f"expected {article}, got {_describe(value)}")
        return value

    return decode


def _decode_float(value: Any) -> float:
    if type(value) not in (int, float):
        raise DecodeError(f"expected a number, got {_describe(value)}")
    return float(value)


def _decode_datetime(value: Any) -> datetime:
    if type(value) is str:
        try:
            return parse_datetime(value)
        except ValueError:
            pass
    raise DecodeError(f"expected an ISO 8601 date-time with a time zone, got {_describe(value)}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    return "a list" if isinstance(value, list) else "an object"


class SharedValues:
    """Equal values decoded through it share one object: short strings, and instances of the
    frozen dataclasses named in ``classes``.

    A tenant's audit log repeats a few hundred values ("Success", "Create MobileApp") hundreds
    of thousands of times, and a few dozen actors (the same app, the same admin) on every
    event; sharing them saves about a third of a large snapshot's memory. Sharing never
    changes a value (the classes are frozen), so it is safe from several threads.
    """

    MAX_LENGTH = 32

    def __init__(self, classes: Iterable[type] = ()) -> None:
        self.strings: dict[str, str] = {}
        self.instances: dict[Any, Any] = {}
        self.classes = frozenset(classes)


class _StringPool:
    """The values shared by the decoders while :func:`string_pool` is in use."""

    current: SharedValues | None = None


@contextmanager
def string_pool(shared: SharedValues | None = None) -> Iterator[None]:
    """Shares equal values while decoding in this block: through ``shared`` when given (kept
    over several blocks, such as the pages of one Graph chain), else short strings only.

    Hold it only around code that does not yield to other tasks: the pool in use is one
    per process, so an ``await`` inside would lend it to whatever runs meanwhile."""
    previous, _StringPool.current = _StringPool.current, shared or SharedValues()
    try:
        yield
    finally:
        _StringPool.current = previous


def _decode_str(value: Any) -> str:
    if type(value) is not str:
        raise DecodeError(f"expected a string, got {_describe(value)}")
    if not value.isascii() and not _is_encodable(value):
        raise DecodeError("expected text, got a string with an unpaired surrogate")
    pool = _StringPool.current
    if pool is not None and len(value) <= SharedValues.MAX_LENGTH:
        return pool.strings.setdefault(value, value)
    return value


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SCALARS: dict[Any, tuple[Decoder, str]] = {
    str: (_decode_str, "strings"),
    int: (_scalar(int, "an integer"), "integers"),
    bool: (_scalar(bool, "a boolean"), "booleans"),
    float: (_decode_float, "numbers"),
    datetime: (_decode_datetime, "date-times"),
}


def _enum_decoder(kind: type[enum.Enum]) -> Decoder:
    members = {member.value: member for member in kind}
    choices = ", ".join(str(v) for v in members)

    def decode(value: Any) -> Any:
        try:
            return members[value]
        except (KeyError, TypeError):
            raise DecodeError(f"expected one of {choices}, got {_describe(value)}") from None

    return decode


def _optional_decoder(inner: Decoder) -> Decoder:
    def decode(value: Any) -> Any:
        return None if value is None else inner(value)

    return decode


def _tuple_decoder(item_type: Any) -> Decoder:
    if item_type in _SCALARS:
        item, plural = _SCALARS[item_type]
        problem = f"expected a list of {plural}"

        def decode_scalars(value: Any) -> tuple[Any, ...]:
            if type(value) is not list:
                raise DecodeError(f"{problem}, got {_describe(value)}")
            try:
                return tuple(map(item, value))
            except DecodeError:
                raise DecodeError(problem) from None

        return decode_scalars
    inner = decoder_for(item_type)

    def decode(value: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise DecodeError(f"expected a list, got {_describe(value)}")
        result = []
        for index, element in enumerate(value):
            try:
                result.append(inner(element))
            except DecodeError as error:
                raise error.within(f"[{index}]") from None
        return tuple(result)

    return decode


def _dict_decoder(value_type: Any) -> Decoder:
    inner = decoder_for(value_type)

    def decode(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise DecodeError(f"expected an object, got {_describe(value)}")
        result = {}
        for key, element in value.items():
            try:
                result[key] = inner(element)
            except DecodeError as error:
                raise error.within(key) from None
        return result

    return decode


def _dataclass_decoder(cls: type) -> Decoder:
    hints = typing.get_type_hints(cls)
    spec = []
    for field in dataclasses.fields(cls):
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        # Graph sends null for empty text ("description": null); that may take the default.
        # A null list or flag is "not known" and must never become an empty list or False.
        null_is_absent = not required and hints[field.name] in (str, int, float)
        spec.append(
            (
                json_name(cls, field),
                field.name,
                decoder_for(hints[field.name]),
                required,
                null_is_absent,
            )
        )

    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise DecodeError(f"expected an object, got {_describe(value)}")
        kwargs = {}
        for key, attribute, inner, required, null_is_absent in spec:
            element = value.get(key, dataclasses.MISSING)
            if element is dataclasses.MISSING or (element is None and null_is_absent):
                if required:
                    raise DecodeError("required field is missing").within(key)
                continue
            try:
                kwargs[attribute] = inner(element)
            except DecodeError as error:
                raise error.within(key) from None
        instance = cls(**kwargs)
        pool = _StringPool.current
        if pool is not None and cls in pool.classes:
            return pool.instances.setdefault(instance, instance)
        return instance

    return decode


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(hint)
    )


@cache
def decoder_for(hint: Any) -> Decoder:
    if hint in _SCALARS:
        return _SCALARS[hint][0]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_decoder(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_optional(hint):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _optional_decoder(decoder_for(inner))
    if origin is tuple:
        return _tuple_decoder(args[0])
    if origin is dict:
        return _dict_decoder(args[1])
    raise TypeError(f"no decoder for {hint!r}")


def decode(cls: type[T], value: Any) -> T:
    """Decode ``value`` into ``cls``; raises DecodeError naming the JSON path."""
    result: T = decoder_for(typing.cast(Any, cls))(value)
    return result


# ---- encoders -------------------------------------------------------------------------

# Values that are their own JSON (exact types: a subclass goes through the handlers).
_PLAIN = frozenset({str, int, bool, float, type(None)})
_HANDLERS: dict[type, Encoder] = {}
_BULK = 1000


def encode(value: Any) -> Any:
    """A dataclass tree back to plain JSON data, with Graph-shaped names where declared.

    Dataclasses become objects, enums their value, date-times ISO 8601 text in UTC, tuples
    and lists lists, dicts dicts (keys kept); anything else stays as it is. The handler of a
    type is chosen once and kept (a snapshot holds a handful of types, a million values).
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    handler = _HANDLERS.get(kind)
    if handler is None:
        handler = _HANDLERS.setdefault(kind, _handler_for(kind))
    return handler(value)


def _handler_for(kind: type) -> Encoder:
    if dataclasses.is_dataclass(kind):
        return _dataclass_encoder(kind)
    if issubclass(kind, enum.Enum):
        return _enum_value
    if issubclass(kind, datetime):
        return format_datetime
    if issubclass(kind, (tuple, list)):
        return _encode_list
    if issubclass(kind, dict):
        return _encode_dict
    return _unchanged


def _dataclass_encoder(cls: type) -> Encoder:
    """One function for the class, compiled once (as ``dataclasses`` builds ``__init__``): it
    reads each field by name and writes the JSON object in one expression, plain values
    passed through, the rest through :func:`encode`. Field names are identifiers and JSON
    names are written as ``repr`` literals, so the source holds nothing else."""
    fields = dataclasses.fields(cls)
    reads = "".join(f"    v{i} = instance.{field.name}\n" for i, field in enumerate(fields))
    members = ", ".join(
        f"{json_name(cls, field)!r}: v{i} if type(v{i}) in plain else encode(v{i})"
        for i, field in enumerate(fields)
    )
    source = f"def encode_instance(instance):\n{reads}    return {{{members}}}\n"
    namespace: dict[str, Any] = {"plain": _PLAIN, "encode": encode}
    # The source is built above from identifiers and repr literals only; a third faster than
    # reading the fields through attrgetter and zip (tests/benchmarks/bench_scan.py).
    exec(compile(source, f"<encoder of {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    encoder: Encoder = namespace["encode_instance"]
    return encoder


def _encode_list(items: Any) -> list[Any]:
    plain = _PLAIN
    if len(items) < _BULK:
        return [item if type(item) in plain else encode(item) for item in items]
    # A snapshot's long lists become a million small dicts: no cycles among them, but each
    # allocation burst would make the collector rescan all that is alive (twice the time).
    with paused_gc():
        return [item if type(item) in plain else encode(item) for item in items]


def _encode_dict(mapping: Any) -> dict[Any, Any]:
    plain = _PLAIN
    return {key: item if type(item) in plain else encode(item) for key, item in mapping.items()}


def _enum_value(member: Any) -> Any:
    return member.value


def _unchanged(value: Any) -> Any:
    return value


# ---- indented JSON text ------------------------------------------------------------------

TextWriter = Callable[[Any, int], str]
# json's own string escaper (its C one where built): the same text json.dumps writes.
_quoted: Callable[[str], str] = json.encoder.encode_basestring
_TEXT_WRITERS: dict[type, TextWriter] = {}


def indented_json(value: Any, depth: int = 0) -> str:
    """``json.dumps(encode(value), indent=1, ensure_ascii=False)``, as if it stood ``depth``
    levels deep in a larger document (each line after the first indented ``depth`` more).

    The same text, without the plain tree or json's pure-Python indenting encoder (the C one
    cannot indent): each dataclass is written by a function compiled once per class, one
    string built per object, strings escaped by json's C escaper; several times faster."""
    kind = type(value)
    writer = _TEXT_WRITERS.get(kind)
    if writer is None:
        writer = _TEXT_WRITERS.setdefault(kind, _text_writer_for(kind))
    return writer(value, depth)


@cache
def newline(depth: int) -> str:
    """A line break and the indentation of a value ``depth`` levels deep."""
    return "\n" + " " * depth


def _text_writer_for(kind: type) -> TextWriter:
    """Mirrors :func:`_handler_for`, then json's rules for the plain value it returns."""
    plain = _PLAIN_WRITERS.get(kind)
    if plain is not None:
        return plain
    if dataclasses.is_dataclass(kind):
        return _dataclass_writer(kind)
    if issubclass(kind, enum.Enum):
        return _write_enum
    if issubclass(kind, datetime):
        return _write_datetime
    if issubclass(kind, (tuple, list)):
        return _write_list
    if issubclass(kind, dict):
        return _write_dict
    return _write_plain


def _write_str(value: str, depth: int) -> str:
    return _quoted(value)


def _write_bool(value: bool, depth: int) -> str:
    return "true" if value else "false"


def _write_int(value: int, depth: int) -> str:
    return int.__repr__(value)


def _write_float(value: float, depth: int) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _write_null(value: None, depth: int) -> str:
    return "null"


_PLAIN_WRITERS: dict[type, TextWriter] = {
    str: _write_str,
    bool: _write_bool,
    int: _write_int,
    float: _write_float,
    type(None): _write_null,
}


def _write_enum(member: enum.Enum, depth: int) -> str:
    value = member.value
    return indented_json(value, depth) if type(value) in _PLAIN else _write_plain(value, depth)


def _write_datetime(moment: datetime, depth: int) -> str:
    return _quoted(format_datetime(moment))


def _write_list(items: Any, depth: int) -> str:
    if not items:
        return "[]"
    inner, write, quoted = depth + 1, indented_json, _quoted
    gap = newline(inner)
    texts = [quoted(item) if type(item) is str else write(item, inner) for item in items]
    return "[" + gap + ("," + gap).join(texts) + newline(depth) + "]"


def _write_dict(mapping: Any, depth: int) -> str:
    if not mapping:
        return "{}"
    if any(type(key) is not str for key in mapping):
        return _write_plain(encode(mapping), depth)  # json's own rules for other keys
    inner, write, quoted = depth + 1, indented_json, _quoted
    gap = newline(inner)
    texts = [
        quoted(key) + ": " + (quoted(item) if type(item) is str else write(item, inner))
        for key, item in mapping.items()
    ]
    return "{" + gap + ("," + gap).join(texts) + newline(depth) + "}"


def _write_plain(value: Any, depth: int) -> str:
    """json's own text of a value :func:`encode` leaves as it is (a str or int subclass, an
    unknown type) or of a rare plain shape, moved ``depth`` levels in: json escapes every line
    break inside a string, so each one in its text is indentation."""
    return json.dumps(value, indent=1, ensure_ascii=False).replace("\n", newline(depth))


def _dataclass_writer(cls: type) -> TextWriter:
    """As :func:`_dataclass_encoder`: one function per class, compiled once, that reads each
    field by name and joins the object's text in one call; a string or null is written in
    place, anything else through :func:`indented_json`. Field names are identifiers and the
    keys are ``repr`` literals of their JSON text, so the source holds nothing else."""
    fields = dataclasses.fields(cls)
    if not fields:
        return _write_empty_object
    reads = "".join(f"    v{i} = instance.{field.name}\n" for i, field in enumerate(fields))
    parts = []
    for i, field in enumerate(fields):
        key = _quoted(json_name(cls, field)) + ": "
        parts.append(f"{'{' if i == 0 else ','!r}, gap, {key!r}")
        v = f"v{i}"
        parts.append(
            f"quoted({v}) if type({v}) is str else 'null' if {v} is None else write({v}, inner)"
        )
    source = (
        "def write_instance(instance, depth):\n"
        f"{reads}"
        "    inner = depth + 1\n"
        "    gap = newline(inner)\n"
        f"    return ''.join(({', '.join(parts)}, newline(depth), '}}'))\n"
    )
    namespace: dict[str, Any] = {"quoted": _quoted, "write": indented_json, "newline": newline}
    # Built above from identifiers and repr literals only, as the encoders are.
    exec(compile(source, f"<text writer of {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    writer: TextWriter = namespace["write_instance"]
    return writer


def _write_empty_object(instance: Any, depth: int) -> str:
    return "{}"
