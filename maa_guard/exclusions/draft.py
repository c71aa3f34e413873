"""Exclusion change requests: a draft file that says what will change, why, and what it risks.

A draft names one access policy, its current tenant exclusions, the apps to add or remove, the
review of every app being added, the justification and ticket, and the exact Graph write that
``exclusions submit`` will send (through MAA approval, like any other change to the policy).

The write replaces the list of the policy's exclusion property: it holds the apps that property
lists now, plus those added, less those removed. An exclusion known only from the audit log is
not in the property and is not written, so the write changes exactly the apps the draft names.
When the tenant's access policies carry no exclusion property (Microsoft Graph publishes none),
the draft has no write (``request`` is null): it is the review and the change ticket for a change
made on the policy's Exclusions tab in the Intune admin center. Its exclusions now are then those
the audit log or the ``[[exclusions]]`` declaration shows (``draft_build``).

The file carries a SHA-256 digest of its content, and the write is recomputed from the policy and
the changes when the file is read: a file edited by hand, truncated or assembled from two drafts
is refused rather than sent. The digest catches accidents, not forgery: anyone can compute it
again for a changed file. What protects is the review ``exclusions submit`` runs again, live,
for every app the draft adds (a risk the file says was accepted does not count there);
``exclusions show`` flags a draft whose reviews do not match its change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from maa_guard.errors import InputError, UsageError
from maa_guard.exclusions import ExclusionWrite, exclusion_write, read_policy_exclusions
from maa_guard.reporters.text import one_line
from maa_guard.snapshot.codec import DecodeError, decode, encode
from maa_guard.storage.jsontext import load_json_text

DRAFT_KIND = "maa-guard/exclusion-change"
DRAFT_VERSION = 1
# Microsoft documents a cap of 50 excluded applications per access policy.
MAX_EXCLUSIONS_PER_POLICY = 50
PROPERTY_SOURCE = "policy-property"
NO_PROPERTY = (
    "the tenant's access policies carry no exclusion property (Microsoft Graph publishes no "
    "writable one), so maa-guard cannot send this change through Graph"
)


def no_property_hint(draft_path: str) -> str:
    """Where a change without a Graph write is made, and its ticket."""
    return (
        "make the change on the access policy's Exclusions tab in the Intune admin center "
        "(Tenant administration > Multi Admin Approval > Access policies), where MAA asks a "
        f"second administrator to approve it too; 'maa-guard exclusions show {draft_path}' is "
        "its change ticket"
    )


class ChangeAction(Enum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class DraftApp:
    """``sources``: where the exclusion was seen: policy-property, audit-log, or declared (the
    ``[[exclusions]]`` declaration, which counts only where the tenant shows no property)."""

    app_id: str
    display_name: str = ""
    service_principal_id: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppChange:
    action: ChangeAction
    app: DraftApp


@dataclass(frozen=True, slots=True)
class DraftPolicy:
    id: str
    display_name: str
    policy_type: str


@dataclass(frozen=True, slots=True)
class GraphWrite:
    method: str
    path: str
    body: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ExclusionDraft:
    tenant_id: str
    created_at: datetime
    tool_version: str
    policy: DraftPolicy
    exclusions_property: str
    current: tuple[DraftApp, ...]
    changes: tuple[AppChange, ...]
    justification: str
    ticket: str
    accepted_risk: str
    request: GraphWrite | None

    @property
    def resulting_app_ids(self) -> tuple[str, ...]:
        return resulting_app_ids(self.current, self.changes)

    def change(self, action: ChangeAction) -> tuple[DraftApp, ...]:
        return tuple(c.app for c in self.changes if c.action is action)


def resulting_app_ids(current: Iterable[DraftApp], changes: Iterable[AppChange]) -> tuple[str, ...]:
    """The policy's exclusion list after the change, in a stable order: kept apps, then added."""
    listed = {app.app_id.lower(): app.app_id for app in current}
    for change in changes:
        if change.action is ChangeAction.ADD:
            listed.setdefault(change.app.app_id.lower(), change.app.app_id)
        else:
            listed.pop(change.app.app_id.lower(), None)
    return tuple(listed.values())


def written_app_ids(current: Iterable[DraftApp], changes: Iterable[AppChange]) -> tuple[str, ...]:
    """The property's list after the change: the apps it lists now (not those known only from
    the audit log), then those added, less those removed."""
    listed = [app for app in current if PROPERTY_SOURCE in app.sources]
    return resulting_app_ids(listed, changes)


def planned_write(
    policy_id: str, current: Iterable[DraftApp], changes: Iterable[AppChange], property_name: str
) -> GraphWrite | None:
    """The PATCH of the policy's exclusion property; None when the tenant shows none ("")."""
    if not property_name:
        return None
    write: ExclusionWrite = exclusion_write(
        policy_id, written_app_ids(current, changes), property_name
    )
    body = {name: tuple(values) for name, values in write.body.items()}
    return GraphWrite(write.method, write.path, body)


def check_changes(
    current: Sequence[DraftApp], changes: Sequence[AppChange], property_name: str
) -> None:
    """Refuse a change that would do nothing, contradict itself, pass the per-policy cap, or
    (with a property to write) remove an app the property does not list."""
    if not changes:
        raise UsageError("no change given", "name apps with --add APP or --remove APP")
    excluded = {app.app_id.lower() for app in current}
    seen: dict[str, ChangeAction] = {}
    for change in changes:
        key = change.app.app_id.lower()
        if seen.get(key, change.action) is not change.action:
            raise UsageError(f"{change.app.app_id} is both added and removed", "name it once")
        seen[key] = change.action
        _check_one(change, key in excluded)
    if property_name:
        _check_removals_listed(current, changes, property_name)
    total = len(resulting_app_ids(current, changes))
    if total > MAX_EXCLUSIONS_PER_POLICY:
        raise UsageError(
            f"the policy would exclude {total} applications; an access policy takes at most "
            f"{MAX_EXCLUSIONS_PER_POLICY}",
            "remove stale exclusions first, or split the automation across policies",
        )


def _check_one(change: AppChange, already_excluded: bool) -> None:
    label = change.app.display_name or change.app.app_id
    if change.action is ChangeAction.ADD and already_excluded:
        raise UsageError(f"{label} ({change.app.app_id}) is already excluded from this policy")
    if change.action is ChangeAction.REMOVE and not already_excluded:
        raise UsageError(
            f"{label} ({change.app.app_id}) is not excluded from this policy",
            "'maa-guard inventory' lists each policy's exclusions",
        )


def _check_removals_listed(
    current: Sequence[DraftApp], changes: Sequence[AppChange], property_name: str
) -> None:
    """An exclusion known only from the audit log is not in the property: a write of the
    property cannot remove it."""
    listed = {app.app_id.lower() for app in current if PROPERTY_SOURCE in app.sources}
    for change in changes:
        if change.action is ChangeAction.REMOVE and change.app.app_id.lower() not in listed:
            label = change.app.display_name or change.app.app_id
            raise UsageError(
                f"{label} ({change.app.app_id}) is excluded according to the audit log only: "
                f"the policy's property {property_name!r} does not list it, so a Graph write "
                "cannot remove it",
                "remove it on the access policy's Exclusions tab in the Intune admin center",
            )


def stale_reason(draft: ExclusionDraft, live_policy: Mapping[str, Any]) -> str:
    """Why the live policy is no longer the one the draft was made from, or "".

    Compared: the apps the policy property lists now and when the draft was written.
    """
    listed = read_policy_exclusions(live_policy, draft.exclusions_property)
    now = {exclusion.app_id.lower() for exclusion in listed}
    then = {a.app_id.lower() for a in draft.current if PROPERTY_SOURCE in a.sources}
    if now == then:
        return ""
    added, removed = sorted(now - then), sorted(then - now)
    parts = [f"now also excludes {one_line(', '.join(added))}"] if added else []
    parts += [f"no longer excludes {one_line(', '.join(removed))}"] if removed else []
    return "; ".join(parts)


# ---- the file ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftFile:
    """A draft and the reviews of the apps it adds (JSON as ``maa_guard.review`` writes it)."""

    draft: ExclusionDraft
    reviews: tuple[dict[str, Any], ...]


def draft_document(draft_file: DraftFile) -> dict[str, Any]:
    content = {"draft": encode(draft_file.draft), "reviews": list(draft_file.reviews)}
    return {
        "kind": DRAFT_KIND,
        "version": DRAFT_VERSION,
        "digest": content_digest(content),
        **content,
    }


def draft_to_json(draft_file: DraftFile) -> str:
    return json.dumps(draft_document(draft_file), indent=2, ensure_ascii=False) + "\n"


def content_digest(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_draft(path: Path) -> DraftFile:
    """Read and verify a draft file; anything malformed or altered is an input error (exit 2)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(
            f"cannot read draft {path}: {error.strerror}",
            "give the file written by 'maa-guard exclusions draft -o FILE'",
        ) from None
    return parse_draft(raw, str(path))


def parse_draft(raw: bytes, origin: str) -> DraftFile:
    document = _json_object(raw, origin)
    _check_header(document, origin)
    content = {"draft": document.get("draft"), "reviews": document.get("reviews")}
    if document.get("digest") != content_digest(content):
        raise InputError(
            f"{origin}: the draft was changed after it was written (digest mismatch)",
            "write a new draft with 'maa-guard exclusions draft'; do not edit the file",
        )
    try:
        draft = decode(ExclusionDraft, content["draft"])
    except DecodeError as error:
        raise InputError(f"{origin}: draft.{error}", "the file is not a maa-guard draft") from None
    _check_consistent(draft, origin)
    return DraftFile(draft, _reviews(content["reviews"], origin))


def _reviews(value: Any, origin: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InputError(f"{origin}: reviews: expected a list of objects")
    return tuple(value)


def _json_object(raw: bytes, origin: str) -> dict[str, Any]:
    try:
        document = load_json_text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{origin}: the draft is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{origin}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            "give the file written by 'maa-guard exclusions draft -o FILE'",
        ) from None
    if not isinstance(document, dict):
        raise InputError(f"{origin}: a draft is a JSON object")
    return document


def _check_header(document: Mapping[str, Any], origin: str) -> None:
    if document.get("kind") != DRAFT_KIND:
        raise InputError(
            f"{origin}: not a maa-guard exclusion draft (kind is {document.get('kind')!r})",
            f'a draft file has "kind": "{DRAFT_KIND}"',
        )
    if document.get("version") != DRAFT_VERSION:
        raise InputError(
            f"{origin}: draft version {document.get('version')!r} is not supported "
            f"(this maa-guard reads version {DRAFT_VERSION})",
            "write the draft again with this version of maa-guard",
        )


def _check_consistent(draft: ExclusionDraft, origin: str) -> None:
    """The write must be the one the policy and the changes imply, whatever the digest says."""
    try:
        check_changes(draft.current, draft.changes, draft.exclusions_property)
    except UsageError as error:
        raise InputError(f"{origin}: the draft's change is not valid: {error.message}") from None
    expected = planned_write(
        draft.policy.id, draft.current, draft.changes, draft.exclusions_property
    )
    if draft.request != expected:
        raise InputError(
            f"{origin}: the draft's Graph request does not match its policy and changes",
            "write a new draft with 'maa-guard exclusions draft'; do not edit the file",
        )
