"""Who is calling, read from the access token's claims when it is a JWT (never verified).

Used only to recognise our own requests in the service's list (``requestor``) and to refuse
completing a change with a token of another tenant. An opaque token gives an empty caller.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Caller:
    """``id``: the appId of an app-only token, the user's object id of a delegated one."""

    tenant: str = ""
    id: str = ""


def caller_of(access_token: str) -> Caller:
    claims = _claims(access_token)
    app_only = claims.get("idtyp") == "app" or ("roles" in claims and "scp" not in claims)
    who = claims.get("appid") or claims.get("azp") if app_only else claims.get("oid")
    return Caller(_text(claims.get("tid")), _text(who))


def _claims(access_token: str) -> dict[str, Any]:
    parts = access_token.split(".")
    if len(parts) != 3:
        return {}
    try:
        decoded = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _text(value: object) -> str:
    return value.lower() if isinstance(value, str) else ""
