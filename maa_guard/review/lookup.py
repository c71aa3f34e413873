"""Live look-ups for one review: which service principal APP names, and its last sign-in.

Targeted queries, read-only:

- an id: ``servicePrincipals(appId='..')`` and ``servicePrincipals/{id}`` in one ``$batch``;
- a name: ``servicePrincipals?$filter=displayName eq '..'``. Graph (and the emulator) serve
  that filter; a server that answers 400 to it gets the listing of every service principal's
  id, appId and name instead, filtered here;
- the sign-in report filtered by appId (its first page can come in a ``$batch`` with other
  reads), else the service principal sign-ins of the window filtered by appId (the
  collector's fallback, narrowed to one app).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from maa_guard.collect.batched import Answer, Read, read
from maa_guard.collect.common import COMPLETE, Outcome, failed
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.tenant import SIGN_INS, SP_ACTIVITY, SignInEvidence, sign_in_activity
from maa_guard.model import SourceState
from maa_guard.reporters.text import one_line
from maa_guard.review.resolve import (
    Candidate,
    CouldNotVerifyError,
    checked_reference,
    choose,
    is_guid,
)
from maa_guard.snapshot import SignInActivity, SourceStatus, Window
from maa_guard.snapshot.codec import format_datetime, parse_datetime

SP_FIELDS = "id,appId,displayName"
DIRECTORY_TOP = "999"
_ACTIVITY = "applicationAuthenticationClientSignInActivity"
_LIVE_HINT = "give the appId, the service principal object id or the exact display name"


async def resolve_live(client: GraphClient, app_ref: str) -> Candidate:
    """The one service principal ``app_ref`` names (exit 2 if none or several, 3 if the
    directory could not be read)."""
    reference = checked_reference(app_ref)
    try:
        found = await _by_id(client, reference) if is_guid(reference) else []
        if not found:
            found = await _by_name(client, reference)
    except GraphError as error:
        raise CouldNotVerifyError(
            f"could not look up the app: {one_line(error.message)}", error.hint
        ) from None
    return choose(reference, found, _LIVE_HINT)


async def _by_id(client: GraphClient, reference: str) -> list[Candidate]:
    paths = [
        f"servicePrincipals(appId='{reference}')?$select={SP_FIELDS}",
        f"servicePrincipals/{reference}?$select={SP_FIELDS}",
    ]
    found = []
    for answer in await client.batch_get(paths):
        if answer.status == 404:
            continue
        if answer.status >= 300:
            raise answer.error()
        found.extend(_candidates([answer.body]))
    return found


async def _by_name(client: GraphClient, name: str) -> list[Candidate]:
    literal = name.replace("'", "''")
    query = {"$filter": f"displayName eq '{literal}'", "$select": SP_FIELDS, "$top": DIRECTORY_TOP}
    try:
        rows = await client.get_all("servicePrincipals", query)
    except GraphError as error:
        if error.status != 400:
            raise
        rows = await client.get_all(
            "servicePrincipals", {"$select": SP_FIELDS, "$top": DIRECTORY_TOP}
        )
    return _candidates(rows)


def _candidates(rows: list[dict[str, Any]]) -> list[Candidate]:
    return [
        Candidate(str(row["id"]), str(row["appId"]), str(row.get("displayName") or ""))
        for row in rows
        if row.get("id") and row.get("appId")
    ]


def sign_in_reads(app_id: str) -> tuple[Read, ...]:
    """The report's row for the app (none when ``app_id`` is not a GUID: nothing is read)."""
    query = {"$filter": f"appId eq '{app_id}'", "$select": f"id,appId,{_ACTIVITY}"}
    return (read(SP_ACTIVITY, query),) if is_guid(app_id) else ()


async def app_sign_in(
    client: GraphClient,
    app_id: str,
    window: Window,
    answers: Mapping[Read, Answer] | None = None,
) -> Outcome[SignInActivity]:
    """The app's last app-only client sign-in: the report, else the window's sign-in log.

    ``answers``: holding the answer to :func:`sign_in_reads`, read together with others."""
    if not is_guid(app_id):
        status = SourceStatus(SourceState.FAILED, reason=f"appId {app_id!r} is not a GUID")
        return Outcome((), status)
    (report,) = sign_in_reads(app_id)
    first = (answers or {}).get(report)
    try:
        if first is None:
            rows = await client.get_all(report.path, report.params)
        else:
            rows = await first.items(client)
    except GraphError as report_error:
        evidence = await _from_sign_ins(client, app_id, window, report_error)
    else:
        latest = {str(row.get("appId", "")).lower(): _last_client_sign_in(row) for row in rows}
        evidence = SignInEvidence(latest, COMPLETE)
    return sign_in_activity(evidence, [app_id])


def _last_client_sign_in(row: dict[str, Any]) -> datetime | None:
    activity = row.get(_ACTIVITY)
    return _moment(activity.get("lastSignInDateTime") if isinstance(activity, dict) else None)


def _moment(value: Any) -> datetime | None:
    """A Graph date-time, or None when absent or malformed (it is only evidence)."""
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _from_sign_ins(
    client: GraphClient, app_id: str, window: Window, report_error: GraphError
) -> SignInEvidence:
    clause = (
        f"appId eq '{app_id}' and signInEventTypes/any(t: t eq 'servicePrincipal') "
        f"and createdDateTime ge {format_datetime(window.start)}"
    )
    query = {"$filter": clause, "$select": "id,appId,createdDateTime", "$top": "1000"}
    try:
        rows = await client.get_all(SIGN_INS, query)
    except GraphError as error:
        return SignInEvidence({}, failed(error))
    moments = [m for row in rows if (m := _moment(row.get("createdDateTime"))) is not None]
    reason = f"from {SIGN_INS} of the window; {SP_ACTIVITY} unavailable ({report_error.message})"
    latest = {app_id.lower(): max(moments, default=None)}
    return SignInEvidence(latest, SourceStatus(SourceState.COMPLETE, reason=reason))
