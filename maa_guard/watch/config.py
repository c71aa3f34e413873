"""The ``[watch]`` table and the ``[[notify]]`` receivers of maa-guard.toml.

Read from the same file the rest of the settings come from (``find_config_file``); every key is
checked here and documented in docs/watch.md. Secrets never live in the file: a receiver names
the environment variable that holds its URL, password or signing key (``url_env``). A literal
secret key (``url``, ``password``, ``secret`` ...) is a configuration error, and no message
ever repeats a value that might be one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from maa_guard.errors import ConfigError
from maa_guard.model import Severity
from maa_guard.watch.model import Event, EventType
from maa_guard.watch.notifiers import CHANNELS, Channel

DEFAULT_LINK = (
    "https://intune.microsoft.com/#view/Microsoft_Intune_DeviceSettings/TenantAdminMenu/~/"
    "multiAdminApproval"
)
_WATCH_KEYS = {"interval", "warn_before", "scan_severity", "portal_link", "state"}
_RECEIVER_KEYS = {"name", "type", "events", "min_severity"}
LITERAL_SECRETS = {
    "url": "url_env",
    "webhook_url": "url_env",
    "password": "password_env",
    "secret": "secret_env",
    "key": "secret_env",
    "hmac_key": "secret_env",
    "signing_key": "secret_env",
    "token": "url_env",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True, slots=True)
class Route:
    """Which events a receiver gets: type patterns (``request.*``) and a lowest severity."""

    events: tuple[str, ...] = ("*",)
    min_severity: Severity = Severity.LOW

    def matches(self, event: Event) -> bool:
        return event.severity >= self.min_severity and any(
            fnmatchcase(event.type.value, pattern) for pattern in self.events
        )


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    name: str
    channel: Channel
    route: Route
    settings: Any  # the channel's own frozen settings (see maa_guard.watch.notifiers)


@dataclass(frozen=True, slots=True)
class WatchConfig:
    interval: timedelta = timedelta(minutes=5)
    warn_before: timedelta = timedelta(hours=12)
    scan_severity: Severity = Severity.HIGH
    portal_link: str = DEFAULT_LINK
    state: Path | None = None
    receivers: tuple[ReceiverConfig, ...] = ()
    origin: str = "defaults"


LONGEST_DURATION = timedelta(days=365)


def parse_duration(text: str, where: str) -> timedelta:
    """``30s``, ``5m``, ``12h``, ``1d``, or a sum such as ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ConfigError(f"{where}: expected a duration such as 30s, 5m, 12h or 1d, got {text!r}")
    total = timedelta()
    try:
        for number, unit in parts:
            total += timedelta(**{_UNITS[unit]: int(number)})
    except (OverflowError, ValueError):  # past timedelta's range, or too many digits
        total = timedelta.max
    if total > LONGEST_DURATION:  # a timer or a date this far out would overflow
        raise ConfigError(f"{where}: at most 365 days, got {text!r}")
    if total <= timedelta():
        raise ConfigError(f"{where}: must be longer than zero")
    return total


def load_watch_config(table: Mapping[str, Any], origin: str) -> WatchConfig:
    watch = _table(table.get("watch", {}), f"{origin}: watch")
    _reject_unknown(watch, _WATCH_KEYS, "watch.", origin)
    receivers = _array(table.get("notify", []), f"{origin}: notify")
    parsed = tuple(_receiver(item, f"notify[{i}]", origin) for i, item in enumerate(receivers))
    _unique_names(parsed, origin)
    state = watch.get("state")
    return WatchConfig(
        interval=_duration(watch, "interval", timedelta(minutes=5), origin),
        warn_before=_duration(watch, "warn_before", timedelta(hours=12), origin),
        scan_severity=_severity(
            watch.get("scan_severity", "high"), f"{origin}: watch.scan_severity"
        ),
        portal_link=_link(watch.get("portal_link", DEFAULT_LINK), f"{origin}: watch.portal_link"),
        state=Path(_string(state, f"{origin}: watch.state")) if state is not None else None,
        receivers=parsed,
        origin=origin,
    )


def _receiver(item: Any, where: str, origin: str) -> ReceiverConfig:
    body = _table(item, f"{origin}: {where}")
    _reject_literal_secrets(body, where, origin)
    channel = _channel(body.get("type"), f"{origin}: {where}.type")
    spec = CHANNELS[channel]
    _reject_unknown(body, _RECEIVER_KEYS | spec.keys, f"{where}.", origin)
    name = _string(body.get("name"), f"{origin}: {where}.name")
    if not _NAME.match(name):
        raise ConfigError(
            f"{origin}: {where}.name: use letters, digits, '-', '_' or '.' (at most 64)"
        )
    return ReceiverConfig(
        name=name,
        channel=channel,
        route=_route(body, f"{origin}: notify '{name}'"),
        settings=spec.parse(body, f"{origin}: notify '{name}'"),
    )


def _reject_literal_secrets(body: Mapping[str, Any], where: str, origin: str) -> None:
    for key, instead in LITERAL_SECRETS.items():
        if key in body:
            raise ConfigError(
                f"{origin}: {where}.{key}: secrets do not belong in the config file",
                f'put the value in an environment variable and name it: {instead} = "MY_VARIABLE"',
            )


def _channel(value: Any, where: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        choices = ", ".join(c.value for c in Channel)
        raise ConfigError(f"{where}: expected one of {choices}") from None


def _route(body: Mapping[str, Any], where: str) -> Route:
    events = body.get("events", ["*"])
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ConfigError(f"{where}: events: expected a list of event types or patterns")
    known = [t.value for t in EventType if t is not EventType.TEST]
    for pattern in events:
        if not any(fnmatchcase(kind, pattern) for kind in known):
            raise ConfigError(
                f"{where}: events: {pattern!r} matches no event type",
                f"event types: {', '.join(known)}",
            )
    severity = _severity(body.get("min_severity", "low"), f"{where}: min_severity")
    return Route(tuple(events), severity)


def _unique_names(receivers: tuple[ReceiverConfig, ...], origin: str) -> None:
    seen: set[str] = set()
    for receiver in receivers:
        if receiver.name in seen:
            raise ConfigError(f"{origin}: two [[notify]] receivers are named {receiver.name!r}")
        seen.add(receiver.name)


def _duration(table: Mapping[str, Any], key: str, default: timedelta, origin: str) -> timedelta:
    if key not in table:
        return default
    return parse_duration(_string(table[key], f"{origin}: watch.{key}"), f"{origin}: watch.{key}")


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity.parse(_string(value, where))
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def _link(value: Any, where: str) -> str:
    text = _string(value, where)
    # Slack's <url|label> syntax and the card JSON take the link as is: no space, < > | " '.
    if not text.startswith("https://") or any(c.isspace() or c in "<>|\"'" for c in text):
        raise ConfigError(f"{where}: expected an https:// URL (may contain {{request_id}})")
    return text


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string")
    return value.strip()


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected an array of tables ([[notify]])")
    return value


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], prefix: str, origin: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{origin}: unknown key {prefix}{key}",
                f"allowed here: {', '.join(sorted(allowed))}",
            )
