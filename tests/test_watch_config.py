"""The [watch] table and [[notify]] receivers: parsing, defaults, routing, refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from maa_guard.errors import ConfigError
from maa_guard.model import Severity
from maa_guard.watch.config import DEFAULT_LINK, Route, load_watch_config, parse_duration
from maa_guard.watch.model import Event, EventType
from maa_guard.watch.notifiers import CHANNELS, Channel
from maa_guard.watch.notifiers.mail import EmailSettings

ORIGIN = "maa-guard.toml"


def load(table: dict[str, Any]):  # type: ignore[no-untyped-def]
    return load_watch_config(table, ORIGIN)


def refused(table: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(table)
    assert caught.value.exit_code == 2
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("12h", timedelta(hours=12)),
     ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)), (" 2H ", timedelta(hours=2))],
)  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "x") == expected


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "0s", "5 minutes", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text, "x")


def test_defaults_without_a_watch_table() -> None:
    config = load({})
    assert (config.interval, config.warn_before, config.scan_severity) == (
        timedelta(minutes=5),
        timedelta(hours=12),
        Severity.HIGH,
    )
    assert (config.portal_link, config.state, config.receivers) == (DEFAULT_LINK, None, ())


def test_every_channel_has_a_registered_notifier() -> None:
    assert set(CHANNELS) == set(Channel)


def test_receivers_and_routes() -> None:
    config = load(
        {
            "watch": {"interval": "1m", "portal_link": "https://portal.example/{request_id}"},
            "notify": [
                {"name": "t", "type": "teams", "url_env": "T_URL", "events": ["request.*"],
                 "min_severity": "medium"},
                {"name": "m", "type": "email", "host": "smtp.example.com", "port": 2525,
                 "username": "bot", "password_env": "SMTP_PW", "from": "bot@example.com",
                 "to": ["ops@example.com"], "to_audience": True},
            ],
        }
    )  # fmt: skip
    teams, mail = config.receivers
    assert (teams.name, teams.channel, teams.route) == (
        "t", Channel.TEAMS, Route(("request.*",), Severity.MEDIUM),
    )  # fmt: skip
    assert mail.settings == EmailSettings(
        host="smtp.example.com", port=2525, sender="bot@example.com", to=("ops@example.com",),
        to_audience=True, username="bot", password_env="SMTP_PW", ca_file=None, timeout=30.0,
    )  # fmt: skip
    assert config.interval == timedelta(minutes=1)


def _event(kind: EventType, severity: Severity) -> Event:
    return Event("k", kind, severity, datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_route_matches_type_patterns_and_severity() -> None:
    route = Route(("request.*", "approvers.changed"), Severity.MEDIUM)
    assert route.matches(_event(EventType.REQUEST_EXPIRING, Severity.HIGH))
    assert route.matches(_event(EventType.APPROVERS_CHANGED, Severity.MEDIUM))
    assert not route.matches(_event(EventType.REQUEST_REJECTED, Severity.LOW))
    assert not route.matches(_event(EventType.EXCLUSION_ADDED, Severity.CRITICAL))


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        ({"name": "x", "type": "webhook", "url_env": "U"},
         "maa-guard.toml: notify 'x': secret_env is required"),
        ({"name": "x", "type": "webhook", "url_env": "U", "secret_env": "K", "key": "literal"},
         "maa-guard.toml: notify[0].key: secrets do not belong in the config file"),
        ({"name": "x", "type": "slack", "url_env": "U", "channel": "#ops"},
         "maa-guard.toml: unknown key notify[0].channel"),
        ({"name": "bad name", "type": "slack", "url_env": "U"},
         "maa-guard.toml: notify[0].name: use letters, digits, '-', '_' or '.' (at most 64)"),
        ({"name": "x", "type": "slack", "url_env": "U", "timeout": 0},
         "maa-guard.toml: notify 'x': timeout: expected seconds between 1 and 300"),
        ({"name": "x", "type": "email", "host": "h", "from": "not an address"},
         "maa-guard.toml: notify 'x': from: expected one plain address such as ops@example.com"),
        ({"name": "x", "type": "email", "host": "h", "from": "a@b.example", "username": "u"},
         "maa-guard.toml: notify 'x': username needs password_env (the variable with the "
         "password)"),
        ({"name": "x", "type": "email", "host": "h", "from": "a@b.example", "port": 70000},
         "maa-guard.toml: notify 'x': port: expected a number from 1 to 65535"),
        ({"name": "x", "type": "slack", "url_env": "U", "min_severity": "urgent"},
         "maa-guard.toml: notify 'x': min_severity: unknown severity 'urgent' (choose from "
         "low, medium, high, critical)"),
    ],
)  # fmt: skip
def test_bad_receivers(receiver: dict[str, Any], message: str) -> None:
    assert refused({"notify": [receiver]}) == message


def test_two_receivers_with_one_name() -> None:
    one = {"name": "dup", "type": "slack", "url_env": "U"}
    assert refused({"notify": [one, one]}) == (
        "maa-guard.toml: two [[notify]] receivers are named 'dup'"
    )


@pytest.mark.parametrize(
    "link", ["http://portal.example", "https://portal.example/a b", "https://x.example/<a|b>"]
)
def test_portal_link_must_be_a_plain_https_url(link: str) -> None:
    assert refused({"watch": {"portal_link": link}}) == (
        "maa-guard.toml: watch.portal_link: expected an https:// URL (may contain {request_id})"
    )


def test_a_missing_secret_names_the_variable_only() -> None:
    config = load({"notify": [{"name": "x", "type": "webhook", "url_env": "HOOK_U",
                              "secret_env": "HOOK_K"}]})  # fmt: skip
    [receiver] = config.receivers
    with pytest.raises(ConfigError) as caught:
        CHANNELS[receiver.channel].build(receiver.settings, {"HOOK_U": "https://h.example/x"})
    assert (
        caught.value.message == "webhook receiver (HOOK_U): environment variable HOOK_K is not set"
    )
    with pytest.raises(ConfigError) as plain:
        CHANNELS[receiver.channel].build(
            receiver.settings, {"HOOK_U": "http://remote.example/Secret1", "HOOK_K": "k"}
        )
    assert (
        plain.value.message == "webhook receiver (HOOK_U): the value of HOOK_U is not an https URL"
    )
    built = CHANNELS[receiver.channel].build(
        receiver.settings, {"HOOK_U": "https://h.example/Secret2", "HOOK_K": "k"}
    )
    assert "Secret2" not in repr(built)
