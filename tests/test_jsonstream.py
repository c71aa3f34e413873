"""The streaming reader gives what json.load gives, in any window size, and precise errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maa_guard.errors import InputError
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot, parse_snapshot
from maa_guard.snapshot.jsonstream import Items, JsonStream, StreamError

DEMO_TEXT = demo_path("snapshot.json").read_text(encoding="utf-8")


def read_all(text: str, chunk_size: int) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, Items) else value
        for key, value in JsonStream(io.StringIO(text), chunk_size).members()
    }


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 4096, 1 << 20])
def test_every_window_size_reads_the_demo_exactly(chunk_size: int) -> None:
    assert read_all(DEMO_TEXT, chunk_size) == json.loads(DEMO_TEXT)


def test_numbers_cut_at_the_window_edge_are_read_whole() -> None:
    text = '{"a": 123456789, "b": [1.5e10, 42], "c": -7}'
    for chunk_size in range(1, len(text) + 1):
        assert read_all(text, chunk_size) == {"a": 123456789, "b": [1.5e10, 42], "c": -7}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1,}', "Expecting property name enclosed in double quotes at line 1 column 9"),
        ('{"a" 1}', "Expecting ':' at line 1 column 6"),
        ('{"a": [1 2]}', "Expecting ',' delimiter or ']' at line 1 column 10"),
        ('{\n "a": [1,\n 2, x]}', "Expecting value at line 3 column 5"),
        ('{"a": 1} x', "Extra data at line 1 column 10"),
        ("[1]", "Expecting '{' at line 1 column 1"),
        ("", "Expecting '{' at line 1 column 1"),
        ("{1: 2}", "Expecting property name enclosed in double quotes at line 1 column 2"),
    ],
)
def test_errors_name_line_and_column(text: str, message: str) -> None:
    for chunk_size in (1, 3, 1 << 20):
        with pytest.raises(StreamError) as caught:
            read_all(text, chunk_size)
        assert str(caught.value) == message


def test_streamed_load_equals_parsed_load(tmp_path: Path) -> None:
    assert load_snapshot(demo_path("snapshot.json")) == parse_snapshot(json.loads(DEMO_TEXT))


def test_version_is_checked_first_wherever_it_stands(tmp_path: Path) -> None:
    path = tmp_path / "late.json"
    path.write_text('{"tenant": [], "policies": [{"id": 1}], "schema_version": 7}')
    with pytest.raises(InputError) as caught:
        load_snapshot(path)
    assert caught.value.message == (
        f"{path}: schema_version: unknown version 7 (this maa-guard reads 1)"
    )


def test_array_item_errors_carry_the_index(tmp_path: Path) -> None:
    document = json.loads(DEMO_TEXT)
    document["audit_events"][3]["activityDateTime"] = "not a time"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document, indent=1))
    with pytest.raises(InputError) as caught:
        load_snapshot(path)
    assert caught.value.message == (
        f"{path}: audit_events[3].activityDateTime: expected an "
        "ISO 8601 date-time with a time zone, got the string "
        "'not a time'"
    )


@settings(max_examples=150, deadline=None)
@given(
    position=st.integers(0, len(DEMO_TEXT) - 1),
    cut=st.integers(0, 40),
    insert=st.sampled_from(["", "{", "}", "[", "]", ",", ":", '"', "x", "1", "null", "\\"]),
)
def test_any_text_damage_loads_or_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, position: int, cut: int, insert: str
) -> None:
    path = tmp_path_factory.mktemp("damage") / "snapshot.json"
    path.write_text(DEMO_TEXT[:position] + insert + DEMO_TEXT[position + cut :], encoding="utf-8")
    try:
        load_snapshot(path)
    except InputError as error:
        assert error.exit_code == 2
        assert error.message.startswith(str(path))
        assert "\n" not in error.message
