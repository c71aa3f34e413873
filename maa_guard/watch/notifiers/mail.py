"""E-mail over SMTP with STARTTLS (stdlib ``smtplib`` and ``email.message``), text/plain only.

Recipients: the fixed ``to`` list, plus with ``to_audience = true`` the people an event names
(the approvers of a request that needs approval, the requestor of one that was decided).
An address from the directory is used only if it is one plain ``local@domain`` token, so a
crafted ``mail`` attribute cannot add recipients or headers.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime as mail_date
from typing import Any

from maa_guard.errors import ConfigError
from maa_guard.watch.message import ADMIN_CENTER, Message
from maa_guard.watch.model import Event
from maa_guard.watch.notifiers.base import (
    ChannelSpec,
    Notifier,
    Outcome,
    SendResult,
    env_name,
    secret,
    tls_context,
)
from maa_guard.watch.notifiers.escape import fit, plain_text
from maa_guard.watch.notifiers.http import timeout

EMAIL_KEYS = frozenset(
    {"host", "port", "username", "password_env", "from", "to", "to_audience", "ca_file", "timeout"}
)
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_SUBJECT_LIMIT = 150


@dataclass(frozen=True, slots=True)
class EmailSettings:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    to_audience: bool
    username: str | None
    password_env: str | None
    ca_file: str | None
    timeout: float


def valid_address(text: str) -> bool:
    return bool(_ADDRESS.match(text)) and len(text) <= 254


def recipients(settings: EmailSettings, event: Event) -> tuple[str, ...]:
    named = [a for a in event.audience if valid_address(a)] if settings.to_audience else []
    return tuple(dict.fromkeys([*settings.to, *named]))


def render_email(message: Message, sender: str, to: Sequence[str]) -> EmailMessage:
    mail = EmailMessage()
    subject = f"[maa-guard] {message.title}: {_subject_detail(message)}"
    mail["Subject"] = fit(subject, _SUBJECT_LIMIT, plain_text)
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = mail_date(message.event.detected_at)
    mail["Message-ID"] = f"<{message.idempotency_key}@maa-guard>"
    mail["X-MAA-Guard-Idempotency-Key"] = message.idempotency_key
    mail["X-MAA-Guard-Event"] = message.event.type.value
    mail.set_content(_body(message))
    return mail


def _subject_detail(message: Message) -> str:
    return message.facts[0].value if message.facts else message.event.key


def _body(message: Message) -> str:
    width = max(len(fact.label) for fact in message.facts) if message.facts else 0
    lines = [plain_text(message.title), ""]
    lines += [f"{fact.label + ':':<{width + 1}} {plain_text(fact.value)}" for fact in message.facts]
    lines += [
        "",
        plain_text(message.next_step),
        f"{ADMIN_CENTER}: {message.link}",
        "",
        f"Event: {plain_text(message.event.key)}",
        f"Idempotency key: {message.idempotency_key}",
        "-- sent by maa-guard watch",
    ]
    return "\n".join(lines) + "\n"


class SmtpNotifier:
    def __init__(self, settings: EmailSettings, password: str | None) -> None:
        self._settings = settings
        self._password = password
        self._context = tls_context(settings.ca_file)

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self._settings.host!r}, password=<hidden>)"

    def send(self, message: Message) -> SendResult:
        to = recipients(self._settings, message.event)
        if not to:
            return SendResult(Outcome.DELIVERED, "no recipients")
        mail = render_email(message, self._settings.sender, to)
        try:
            refused = self._transmit(mail, to)
        except smtplib.SMTPException as error:
            return _smtp_failure(error)
        except ssl.SSLCertVerificationError:
            return SendResult(Outcome.REJECTED, "TLS certificate not trusted")
        except OSError as error:
            return SendResult(Outcome.RETRY, f"cannot connect ({type(error).__name__})")
        detail = f"{len(to) - len(refused)} of {len(to)} recipients accepted"
        return SendResult(Outcome.DELIVERED, detail)

    def _transmit(self, mail: EmailMessage, to: Sequence[str]) -> dict[str, Any]:
        settings = self._settings
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            smtp.ehlo()
            smtp.starttls(context=self._context)
            smtp.ehlo()
            if settings.username and self._password is not None:
                smtp.login(settings.username, self._password)
            return dict(smtp.send_message(mail, settings.sender, list(to)))


def _smtp_failure(error: smtplib.SMTPException) -> SendResult:
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return SendResult(Outcome.REJECTED, "the SMTP server does not offer STARTTLS or AUTH")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SendResult(Outcome.RETRY, "SMTP server disconnected")
    code = _smtp_code(error)
    if code is not None and 400 <= code < 500:
        return SendResult(Outcome.RETRY, f"SMTP {code}")
    return SendResult(Outcome.REJECTED, f"SMTP {code}" if code else type(error).__name__)


def _smtp_code(error: smtplib.SMTPException) -> int | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return max(codes) if codes else None
    code = getattr(error, "smtp_code", None)
    return code if isinstance(code, int) else None


def _parse(body: Mapping[str, Any], where: str) -> EmailSettings:
    username = _optional_text(body, "username", where)
    password_env = env_name(body, "password_env", where) if "password_env" in body else None
    if username and password_env is None:
        raise ConfigError(f"{where}: username needs password_env (the variable with the password)")
    return EmailSettings(
        host=_text(body, "host", where),
        port=_port(body.get("port", 587), where),
        sender=_address(body.get("from"), f"{where}: from"),
        to=tuple(_address(a, f"{where}: to") for a in _list(body.get("to", []), where)),
        to_audience=_flag(body.get("to_audience", False), f"{where}: to_audience"),
        username=username,
        password_env=password_env,
        ca_file=_optional_text(body, "ca_file", where),
        timeout=timeout(body, where),
    )


def _text(body: Mapping[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ConfigError(f"{where}: {key}: expected a non-empty value without spaces")
    return value.strip()


def _optional_text(body: Mapping[str, Any], key: str, where: str) -> str | None:
    return _text(body, key, where) if key in body else None


def _port(value: Any, where: str) -> int:
    if type(value) is not int or not 1 <= value <= 65535:
        raise ConfigError(f"{where}: port: expected a number from 1 to 65535")
    return value


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not valid_address(value.strip()):
        raise ConfigError(f"{where}: expected one plain address such as ops@example.com")
    return value.strip()


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: to: expected a list of addresses")
    return value


def _flag(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise ConfigError(f"{where}: expected true or false")
    return value


def _build(settings: EmailSettings, environ: Mapping[str, str]) -> Notifier:
    where = f"e-mail receiver ({settings.host})"
    password = secret(environ, settings.password_env, where) if settings.password_env else None
    return SmtpNotifier(settings, password)


def _accepts(settings: EmailSettings, event: Event) -> bool:
    return bool(recipients(settings, event))


SPEC = ChannelSpec(keys=EMAIL_KEYS, parse=_parse, build=_build, accepts=_accepts)
