"""History URLs: SQLite paths and URLs, PostgreSQL URLs, the default store; passwords hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from maa_guard.history.errors import HistoryInputError
from maa_guard.history.location import (
    Engine,
    HistoryLocation,
    parse_history_url,
    redact,
    scrub,
)


def test_the_default_store_is_in_the_user_data_folder(tmp_path: Path) -> None:
    location = parse_history_url(None, {"XDG_DATA_HOME": str(tmp_path)})
    expected = str(tmp_path / "maa-guard" / "history.db")
    assert location == HistoryLocation(Engine.SQLITE, expected, expected, is_default=True)


def test_the_environment_variable_names_the_store() -> None:
    location = parse_history_url(None, {"MAA_GUARD_HISTORY": "postgresql://maa@db/history"})
    assert (location.engine, location.target) == (Engine.POSTGRESQL, "postgresql://maa@db/history")
    assert not location.is_default


def test_a_flag_wins_over_the_environment() -> None:
    location = parse_history_url("/srv/h.db", {"MAA_GUARD_HISTORY": "postgresql://db/x"})
    assert (location.engine, location.target) == (Engine.SQLITE, "/srv/h.db")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///srv/maa/history.db", "/srv/maa/history.db"),
        ("SQLite:///srv/maa/history.db", "/srv/maa/history.db"),
        ("/srv/maa/history.db", "/srv/maa/history.db"),
        ("relative/history.db", "relative/history.db"),
        ("sqlite:///C:/maa/history.db", "C:/maa/history.db"),
    ],
)
def test_sqlite_locations(url: str, path: str) -> None:
    location = parse_history_url(url, {})
    assert (location.engine, location.target, location.display) == (
        Engine.SQLITE,
        str(Path(path)),
        str(Path(path)),
    )


def test_a_home_relative_path_is_expanded() -> None:
    location = parse_history_url("~/history.db", {})
    assert location.target == str(Path.home() / "history.db")


@pytest.mark.parametrize(
    ("url", "display"),
    [
        ("postgresql://maa@db.internal:5432/history", "postgresql://maa@db.internal:5432/history"),
        ("postgres://maa:s3cret@db/history", "postgres://maa:***@db/history"),
        (
            "postgresql://db/history?user=maa&password=s3cret&sslmode=require",
            "postgresql://db/history?user=maa&password=***&sslmode=require",
        ),
    ],
)
def test_postgresql_urls_keep_their_password_but_never_show_it(url: str, display: str) -> None:
    location = parse_history_url(url, {})
    assert (location.engine, location.target, location.display) == (
        Engine.POSTGRESQL,
        url,
        display,
    )
    assert redact(url) == display
    assert scrub("failed for s3cret here", location) == (
        "failed for *** here" if "s3cret" in url else "failed for s3cret here"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "the history URL is empty"),
        ("   ", "the history URL is empty"),
        ("sqlite://", "the history URL names no SQLite file"),
        ("mongodb://db/x", "history URL scheme 'mongodb' is not supported (sqlite or postgresql)"),
        (
            "postgresql://maa:pw@[::1/db",
            "malformed PostgreSQL URL postgresql://***@[::1/db: Invalid IPv6 URL",
        ),
        (
            "postgresql://db:99999/x",
            "malformed PostgreSQL URL postgresql://db:99999/x: Port out of range 0-65535",
        ),
        (
            "postgresql://db/x#frag",
            "malformed PostgreSQL URL postgresql://db/x#frag: it has a #fragment",
        ),
    ],
)
def test_malformed_urls_are_bad_input(url: str, message: str) -> None:
    with pytest.raises(HistoryInputError) as error:
        parse_history_url(url, {})
    assert error.value.message == message
    assert error.value.exit_code == 2
    assert "pw" not in error.value.message
