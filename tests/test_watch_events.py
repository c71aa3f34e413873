"""Pure detection: previous Observation + Reading -> next Observation + events."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from maa_guard.model import Severity
from maa_guard.watch.events import DetectOptions, covering, detect
from maa_guard.watch.model import (
    AuditSighting,
    ChangeSource,
    Event,
    ExclusionChange,
    ExclusionVerb,
    FindingState,
    GroupState,
    Observation,
    Person,
    PolicyState,
    Reading,
    RequestState,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
OPTIONS = DetectOptions()
POLICIES = {
    "p-app": PolicyState("p-app", "Apps", "app", ("g1",), ("a1",)),
    "p-dev": PolicyState("p-dev", "Devices", "deviceAction", ("g2",), None),
}
GROUPS = {"g1": GroupState("g1", "Approvers", ("u1", "u2")), "g2": GroupState("g2", "Dev", ("u3",))}
PEOPLE = {
    "u1": Person("u1", "Una", "una@x.example"),
    "u2": Person("u2", "Ugo", "ugo@x.example"),
    "u3": Person("u3", "Uma", "uma@x.example"),
    "req": Person("req", "Rex", "rex@x.example"),
}


def request(status: str = "needsApproval", **changes: object) -> RequestState:
    base = RequestState(
        id="r1",
        status=status,
        requestor_id="req",
        requestor_name="Rex",
        requestor_kind="user",
        justification="CHG-1",
        requested_at=T0,
        expires_at=T0 + timedelta(hours=72),
        policy_types=("app",),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def reading(at: datetime = T0, **sections: object) -> Reading:
    values: dict[str, object] = {
        "requests": {},
        "policies": POLICIES,
        "groups": GROUPS,
        "people": PEOPLE,
        "audit_end": at,
    }
    values.update(sections)
    return Reading(taken_at=at, **values)  # type: ignore[arg-type]


def run(*readings: Reading, options: DetectOptions = OPTIONS) -> list[list[Event]]:
    """Each reading in turn, from no previous observation; the events of each poll."""
    previous: Observation | None = None
    told = []
    for item in readings:
        previous, events = detect(previous, item, options)
        told.append(list(events))
    return told


def keys(events: list[Event]) -> list[str]:
    return [event.key for event in events]


# ---- requests --------------------------------------------------------------------------------


def test_the_first_poll_is_a_quiet_baseline() -> None:
    [first] = run(reading(requests={"r1": request()}))
    assert first == []


def test_notify_existing_tells_open_requests_once() -> None:
    open_ones = {
        "r1": request(),
        "r2": request("approved", id="r2"),
        "r3": request("rejected", id="r3"),
        "r4": request(id="r4", expires_at=T0 + timedelta(hours=1)),
    }
    first, second = run(
        reading(requests=open_ones),
        reading(T0 + timedelta(minutes=5), requests=open_ones),
        options=DetectOptions(notify_existing=True),
    )
    assert keys(first) == [
        "request:r1:status:needsApproval",
        "request:r2:status:approved",
        "request:r4:status:needsApproval",
        "request:r4:expiring",
    ]
    assert second == []


def test_each_status_change_is_told_once_to_the_right_people() -> None:
    later = T0 + timedelta(minutes=5)
    _, filed, same, approved, completed = run(
        reading(),
        reading(later, requests={"r1": request()}),
        reading(later, requests={"r1": request()}),
        reading(later, requests={"r1": request("approved", approver_name="Una")}),
        reading(later, requests={"r1": request("completed")}),
    )
    assert keys(filed) == ["request:r1:status:needsApproval"]
    assert filed[0].audience == ("una@x.example", "ugo@x.example")
    assert (same, completed) == ([], [])
    assert keys(approved) == ["request:r1:status:approved"]
    assert approved[0].audience == ("rex@x.example",)
    assert approved[0].request is not None and approved[0].request.approver_name == "Una"


def test_the_requestor_is_never_among_the_approvers_told() -> None:
    people = {**PEOPLE}
    mine = request(requestor_id="u1")
    _, filed = run(reading(), reading(requests={"r1": mine}, people=people))
    assert filed[0].audience == ("ugo@x.example",)


def test_an_unreadable_source_keeps_what_was_known_and_tells_nothing() -> None:
    known = {"r1": request()}
    _, failed, back = run(
        reading(requests=known),
        reading(requests=None, problems=("approval_requests is failed",)),
        reading(requests={"r1": request("rejected")}),
    )
    assert failed == []
    assert keys(back) == ["request:r1:status:rejected"]


def test_expiry_is_warned_once_when_the_window_is_entered() -> None:
    pending = {"r1": request()}
    at = [T0, T0 + timedelta(hours=59), T0 + timedelta(hours=61), T0 + timedelta(hours=62)]
    told = run(*(reading(moment, requests=pending) for moment in at))
    assert [keys(events) for events in told] == [[], [], ["request:r1:expiring"], []]
    assert told[2][0].severity is Severity.HIGH


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (("app",), ["p-app"]),
        (("deviceWipe",), ["p-dev"]),
        (("script",), []),
        (("operationApprovalPolicy",), ["p-app", "p-dev"]),
    ],
)
def test_covering_policies(types: tuple[str, ...], expected: list[str]) -> None:
    assert [p.id for p in covering(POLICIES.values(), types)] == expected


# ---- exclusions ------------------------------------------------------------------------------


def audited(verb: ExclusionVerb, audit_id: str, at: datetime = T0) -> ExclusionChange:
    return ExclusionChange("p-app", "a2", verb, ChangeSource.AUDIT_LOG, at, audit_id=audit_id)


def with_exclusions(*apps: str) -> dict[str, PolicyState]:
    return {**POLICIES, "p-app": dataclasses.replace(POLICIES["p-app"], exclusions=apps)}


def test_an_exclusion_seen_in_the_audit_log_and_the_property_is_told_once() -> None:
    t1, t2 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
    change = audited(ExclusionVerb.ADDED, "ev1", t1)
    _, first, second = run(
        reading(),
        reading(
            t1,
            policies=with_exclusions("a1", "a2"),
            audit_changes=(change,),
            audit_events=(AuditSighting("ev1", t1),),
        ),
        reading(
            t2,
            policies=with_exclusions("a1", "a2"),
            audit_changes=(change,),  # the overlap reads it again
            audit_events=(AuditSighting("ev1", t1),),
        ),
    )
    assert keys(first) == ["exclusion:p-app:a2:added:audit-ev1"]
    assert second == []


def test_an_audit_event_that_lags_is_matched_to_the_change_already_told() -> None:
    t1, t2 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
    _, by_property, by_audit, removed = run(
        reading(),
        reading(t1, policies=with_exclusions("a1", "a2")),
        reading(
            t2,
            policies=with_exclusions("a1", "a2"),
            audit_changes=(audited(ExclusionVerb.ADDED, "ev1", t1),),
            audit_events=(AuditSighting("ev1", t1),),
        ),
        reading(t2 + timedelta(minutes=5), policies=with_exclusions("a1")),
    )
    assert keys(by_property) == ["exclusion:p-app:a2:added:poll-2"]
    assert by_audit == []
    assert keys(removed) == ["exclusion:p-app:a2:removed:poll-4"]


def test_a_remove_and_re_add_between_polls_is_told_from_the_audit_log() -> None:
    t1 = T0 + timedelta(minutes=5)
    _, told = run(
        reading(policies=with_exclusions("a1", "a2")),
        reading(
            t1,
            policies=with_exclusions("a1", "a2"),  # the property shows no difference
            audit_changes=(
                audited(ExclusionVerb.REMOVED, "ev1", t1),
                audited(ExclusionVerb.ADDED, "ev2", t1),
            ),
            audit_events=(AuditSighting("ev1", t1), AuditSighting("ev2", t1)),
        ),
    )
    assert keys(told) == [
        "exclusion:p-app:a2:removed:audit-ev1",
        "exclusion:p-app:a2:added:audit-ev2",
    ]


def test_a_new_policy_with_exclusions_is_told_and_an_unexposed_property_is_not() -> None:
    new = PolicyState("p-new", "New", "script", ("g1",), ("a9",))
    hidden = PolicyState("p-hidden", "Hidden", "role", ("g1",), None)
    _, told = run(reading(), reading(policies={**POLICIES, "p-new": new, "p-hidden": hidden}))
    assert keys(told) == ["exclusion:p-new:a9:added:poll-2"]
    assert told[0].exclusion is not None and told[0].exclusion.policy_name == "New"


# ---- approver groups and findings ------------------------------------------------------------


def test_membership_changes_name_who_came_and_went() -> None:
    changed = {**GROUPS, "g1": GroupState("g1", "Approvers", ("u2", "u3"))}
    added_group = {**changed, "g9": GroupState("g9", "Fresh", ("u1",))}
    _, told, quiet = run(reading(), reading(groups=changed), reading(groups=added_group))
    [event] = told
    assert event.key == "approvers:g1:poll-2"
    assert event.membership is not None
    assert event.membership.added == (PEOPLE["u3"],)
    assert event.membership.removed == (PEOPLE["u1"],)
    assert event.membership.policy_names == ("Apps",)
    assert quiet == []  # a group first seen is a baseline


def finding(fingerprint: str, severity: Severity = Severity.HIGH) -> FindingState:
    return FindingState(fingerprint, "MAA202", "Too few approvers", severity, "g1", "Approvers")


def test_findings_new_since_the_last_scan_and_incomplete_scans_forget_nothing() -> None:
    a, b = finding("fa"), finding("fb", Severity.CRITICAL)
    told = run(
        reading(findings={"fa": a}),
        reading(findings={"fa": a, "fb": b}),
        reading(findings={}, findings_complete=False),  # could not verify: nothing went away
        reading(findings={"fa": a, "fb": b}),
        reading(findings={"fb": b}),
        reading(findings={"fa": a, "fb": b}),
    )
    assert [keys(events) for events in told] == [
        [],
        ["finding:fb:poll-2"],
        [],
        [],
        [],
        ["finding:fa:poll-6"],  # fixed, then failing again: new again
    ]
    assert told[1][0].severity is Severity.CRITICAL


def test_the_audit_cursor_and_seen_ids_move_with_the_window() -> None:
    end = T0 + timedelta(hours=2)
    sightings = (AuditSighting("old", T0), AuditSighting("recent", end - timedelta(minutes=5)))
    observation, _ = detect(None, reading(end, audit_events=sightings), OPTIONS)
    assert (observation.audit_cursor, observation.audit_seen) == (end, ("recent",))
    kept, _ = detect(observation, reading(end, audit_end=None), OPTIONS)
    assert (kept.audit_cursor, kept.audit_seen) == (end, ("recent",))
