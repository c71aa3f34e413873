"""Snapshot files are written streaming, in the exact bytes ``json.dumps`` wrote, and collected
audit pages are decoded as they arrive.

``snapshot_chunks`` hands the writer the document a few hundred list items at a time (never the
whole text, never a tree of dicts); ``indented_json`` writes each item as
``json.dumps(encode(value), indent=1, ensure_ascii=False)`` would, without json's pure-Python
indenting encoder. A failure in the middle of the stream leaves neither the file nor a
temporary. On the collection side, a page sink (``GraphClient.get_all(into=...)``) decodes each
page as it arrives and the page handed over is emptied, and equal actors share one object.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pages import pages_of_at_most
from test_codec_encode import DEMO_SHA256, GENERATED_SHA256, generated, sha256

from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint
from maa_guard.collect.budget import unlimited
from maa_guard.collect.common import Decoded, Problems, decode_all
from maa_guard.collect.intune import AUDIT_EVENTS, AUDIT_FIELDS, collect_audit_events
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import AuditEvent, MalformedItem, Snapshot, Window
from maa_guard.snapshot.codec import encode, format_datetime, indented_json
from maa_guard.snapshot.file import (
    ITEMS_PER_CHUNK,
    load_snapshot,
    snapshot_chunks,
    snapshot_to_json,
)
from maa_guard.storage.files import write_all_atomically

DEMO = load_snapshot(demo_path("snapshot.json"))
GENERATED = generated()


def reference(value: Any) -> str:
    """What the snapshot writer wrote before it streamed."""
    return json.dumps(encode(value), indent=1, ensure_ascii=False)


# ---- the file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "digest"),
    [(DEMO, DEMO_SHA256), (GENERATED, GENERATED_SHA256)],
    ids=["demo", "generated"],
)
def test_the_streamed_file_holds_the_bytes_json_dumps_wrote(
    snapshot: Snapshot, digest: str, tmp_path: Path
) -> None:
    path = tmp_path / "tenant.json"
    write_all_atomically([(path, snapshot_chunks(snapshot))])
    text = path.read_bytes().decode("utf-8")
    assert text == reference(snapshot) + "\n"
    assert sha256(text) == digest
    assert load_snapshot(path) == snapshot


def test_the_text_comes_in_chunks_of_a_few_hundred_items() -> None:
    chunks = list(snapshot_chunks(GENERATED))
    document = "".join(chunks)
    assert document == snapshot_to_json(GENERATED)
    assert len(GENERATED.audit_events) == 4500
    # Per member its key, then its value whole or its list ITEMS_PER_CHUNK items at a time and
    # the closing bracket; then the closing brace.
    values = [getattr(GENERATED, name) for name in GENERATED.__dataclass_fields__]
    expected = sum(
        1 + (math.ceil(len(v) / ITEMS_PER_CHUNK) + 1 if isinstance(v, tuple) and v else 1)
        for v in values
    )
    assert len(chunks) == expected + 1
    assert max(len(chunk) for chunk in chunks) < len(document) / 10


def failing(chunks: Iterator[str], after: int) -> Iterator[str]:
    for number, chunk in enumerate(chunks):
        if number == after:
            raise RuntimeError("collection interrupted")
        yield chunk


def test_a_failure_midway_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    with pytest.raises(RuntimeError, match="collection interrupted"):
        write_all_atomically([(path, failing(snapshot_chunks(GENERATED), after=20))])
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_keeps_the_file_it_would_have_replaced(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    path.write_text("the earlier snapshot\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="collection interrupted"):
        write_all_atomically([(path, failing(snapshot_chunks(GENERATED), after=20))])
    assert [p.name for p in tmp_path.iterdir()] == ["tenant.json"]
    assert path.read_text(encoding="utf-8") == "the earlier snapshot\n"


def test_loading_shares_equal_actors_and_identities(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    path.write_text(snapshot_to_json(GENERATED), encoding="utf-8")
    loaded = load_snapshot(path)
    assert loaded == GENERATED
    actors = [event.actor for event in loaded.audit_events]
    assert len({id(actor) for actor in actors}) == len(set(actors)) < len(actors)
    requestors = [r.requestor for r in loaded.approval_requests if r.requestor is not None]
    assert len({id(r) for r in requestors}) == len(set(requestors)) < len(requestors)


# ---- indented_json: json.dumps's text, any depth ------------------------------------------


class Colour(enum.Enum):
    RED = "red"
    LIST = (1, 2)


class Level(int, enum.Enum):
    HIGH = 3


class Point(NamedTuple):
    x: int
    y: datetime


class Text(str):
    pass


@dataclass(frozen=True)
class Plain:
    some_name: str
    nested: Any = None


@dataclass(frozen=True, slots=True)
class Awkward:
    """Field names that are also names inside a per-class writer."""

    instance: int
    depth: str
    gap: Any = None
    inner: Any = None
    quoted: Any = None
    write: Any = None
    newline: Any = None


@dataclass
class Empty:
    pass


NOW = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -12345678901234567890,
    2.5,
    1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    'quote " backslash \\ newline \n tab \t bell \x07 é 日本 \u2028',
    Text("sub"),
    Level.HIGH,
    Colour.RED,
    Colour.LIST,
    NOW,
    datetime(2026, 1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
    [],
    (),
    {},
    [[], {}, [[]], [{}]],
    (1, [2, (3, "x")]),
    Point(1, NOW),
    {"k": (SourceState.FAILED,), "n": {"when": NOW}},
    {5: "int key", 2.5: "float key", True: "bool key", None: "null key"},
    {"a": 1, 7: 2},
    Plain("a", {"list": [Plain("b")], "when": NOW}),
    Awkward(1, "x", Colour.RED, [NOW], None, Text("t"), {"a": []}),
    Empty(),
    [Empty(), Plain("", ())],
    MalformedItem("auditEvent", "#3", "actor", "expected an object"),
]


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("value", VALUES, ids=[f"value{n}" for n in range(len(VALUES))])
def test_indented_json_is_json_dumps_text_at_any_depth(value: Any, depth: int) -> None:
    assert indented_json(value, depth) == reference(value).replace("\n", "\n" + " " * depth)


def test_a_value_json_refuses_is_refused_alike() -> None:
    with pytest.raises(TypeError, match="frozenset is not JSON serializable"):
        reference({"x": frozenset({1})})
    with pytest.raises(TypeError, match="frozenset is not JSON serializable"):
        indented_json({"x": frozenset({1})})
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None"):
        indented_json({(1, 2): "tuple key"})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(blacklist_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


@given(value=json_values, depth=st.integers(min_value=0, max_value=4))
def test_indented_json_of_any_json_value_is_json_dumps_text(value: Any, depth: int) -> None:
    assert indented_json(value, depth) == reference(value).replace("\n", "\n" + " " * depth)


# ---- collection: pages decoded as they arrive ----------------------------------------------

PAGE = 40


@pytest.fixture
def small_pages() -> Iterator[None]:
    with pages_of_at_most(PAGE):
        yield


def in_window(window: Window) -> list[AuditEvent]:
    events = [
        e for e in GENERATED.audit_events if window.start <= e.activity_date_time < window.end
    ]
    return sorted(events, key=lambda e: (e.activity_date_time, e.id))


def audit_params(window: Window) -> dict[str, str]:
    dates = (
        f"activityDateTime ge {format_datetime(window.start)} "
        f"and activityDateTime lt {format_datetime(window.end)}"
    )
    return {"$filter": dates, "$select": AUDIT_FIELDS, "$top": "1000"}


def on_emulator(work: Any) -> Any:
    async def go(url: str) -> Any:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, budgets=unlimited(), timeout=60) as client:
            return await work(client)

    fixture = fixture_from_snapshot(GENERATED)
    with Emulator(fixture, throttle=False, fixed_tokens=True, now=lambda: NOW) as emulator:
        return asyncio.run(go(emulator.url)), emulator.requests


@pytest.mark.usefixtures("small_pages")
def test_a_page_sink_decodes_each_page_and_empties_the_pages_it_takes() -> None:
    window = GENERATED.window
    params = audit_params(window)

    async def read(client: GraphClient) -> tuple[Any, ...]:
        first = await client.get(AUDIT_EVENTS, params)
        sink = Decoded(AuditEvent, Problems())
        returned = await client.get_all(AUDIT_EVENTS, params, first=first, into=sink)
        whole = await client.get_all(AUDIT_EVENTS, params)
        return first, sink, returned, whole

    (first, sink, returned, whole), log = on_emulator(read)
    expected = decode_all(AuditEvent, whole, Problems())
    assert returned == []
    assert first["value"] == []
    assert sink.items == expected
    assert len(expected) > 10 * PAGE
    pages = sum(r.path == f"/beta/{AUDIT_EVENTS}" for r in log)
    assert pages == 2 * math.ceil(len(expected) / PAGE)


def test_a_page_sink_counts_malformed_positions_over_the_whole_chain() -> None:
    problems = Problems()
    sink = Decoded(AuditEvent, problems)
    good = encode(GENERATED.audit_events[0])
    sink.extend([good, good])
    sink.extend([good, {"activityDateTime": "2026-10-01T00:00:00Z", "actor": {}}])
    assert sink.items == [GENERATED.audit_events[0]] * 3
    assert problems.malformed == [
        MalformedItem("auditEvent", "#3", "id", "required field is missing")
    ]


@pytest.mark.usefixtures("small_pages")
def test_collected_audit_events_are_the_window_and_share_their_actors() -> None:
    window = GENERATED.window

    async def read(client: GraphClient) -> Any:
        return await collect_audit_events(client, window)

    outcome, _ = on_emulator(read)
    assert outcome.status.state is SourceState.COMPLETE
    assert list(outcome.items) == in_window(window)
    actors = [event.actor for event in outcome.items]
    assert len({id(actor) for actor in actors}) == len(set(actors)) < len(actors)
