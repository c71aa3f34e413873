"""The response classifier over every known answer to an MAA-gated write, and the input checks."""

from __future__ import annotations

import json

import pytest

from maa_guard.approval import (
    CodeError,
    JustificationError,
    Verdict,
    WriteRequest,
    checked_code,
    classify,
    encode_justification,
)
from maa_guard.approval.justification import REFERENCE_LENGTH, reference_in, tagged
from maa_guard.errors import UsageError

CODE = "aabb1234-5678-9012-abcd-ef0123456789"
APPROVAL_TEXT = (
    "Approval Required. Request Approval using the request ID returned as part of the "
    f"x-msft-approval-code response header. x-msft-approval-code: {CODE}"
)


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _nested(message: str, http_headers: dict[str, str] | None) -> bytes:
    inner = {
        "_version": 3,
        "Message": message + " - Operation ID (for customer support): 00000000-0000 - Url: x",
        "CustomApiErrorPhrase": "",
        "RetryAfter": None,
        "ErrorSourceService": "",
        "HttpHeaders": json.dumps(http_headers) if http_headers is not None else None,
    }
    return _error("BadRequest", json.dumps(inner, indent=1).replace("\n", "\r\n"))


@pytest.mark.parametrize(
    ("status", "headers", "body", "verdict", "code"),
    [
        # 400: header missing (current doc), and as the May 2026 revision had it (403)
        (400, {}, _error("BadRequest", "Header 'x-msft-approval-justification' is required to "
         "request approval - Operation ID (for customer support): 1 - Activity ID: 2 - Url: u"),
         Verdict.JUSTIFICATION_MISSING, None),
        (403, {}, _error("Forbidden", "Header 'x-msft-approval-justification' is required to "
         "request approval"), Verdict.JUSTIFICATION_MISSING, None),
        (400, {}, _error("BadRequest", "'x-msft-approval-justification' must be a valid base64 "
         "encoded string."), Verdict.JUSTIFICATION_NOT_BASE64, None),
        (400, {}, _error("BadRequest", "Decoded content of 'x-msft-approval-justification' "
         "header must be no greater than 1024 characters"), Verdict.JUSTIFICATION_TOO_LONG, None),
        # request filed: 412 with the header, 412 with the code only in the nested message
        (412, {"x-msft-approval-code": CODE},
         _nested(APPROVAL_TEXT, {"x-msft-approval-code": CODE}), Verdict.PENDING, CODE),
        (412, {"X-MSFT-Approval-Code": CODE.upper()}, b"", Verdict.PENDING, CODE),
        (412, {}, _nested(APPROVAL_TEXT, {"X-Msft-Approval-Code": CODE}), Verdict.PENDING, CODE),
        (412, {}, _nested(APPROVAL_TEXT, None), Verdict.PENDING, CODE),
        # request filed: 403 ApprovalRequired (earlier doc), header or message only
        (403, {"x-msft-approval-code": CODE}, _error("ApprovalRequired", APPROVAL_TEXT),
         Verdict.PENDING, CODE),
        (403, {}, _error("ApprovalRequired", APPROVAL_TEXT), Verdict.PENDING, CODE),
        (403, {}, _error("ApprovalRequired", "Approval Required."), Verdict.PENDING, None),
        (409, {}, _error("Conflict", "An active Approval Request already exists for this entity"),
         Verdict.DUPLICATE, None),
        (400, {}, _error("BadRequest", "Invalid approval header format, expected GUID format"),
         Verdict.CODE_FORMAT, None),
        (403, {}, _error("Forbidden", "An error has occurred"), Verdict.MISMATCH, None),
        (403, {}, _error("Authorization_RequestDenied", "Insufficient privileges to complete the "
         "operation."), Verdict.PERMISSION_DENIED, None),
        (403, {}, _error("Forbidden", "Something else"), Verdict.FORBIDDEN, None),
        (200, {}, b'{"id": "x"}', Verdict.APPLIED, None),
        (201, {}, b"", Verdict.APPLIED, None),
        (204, {}, b"", Verdict.APPLIED, None),
        (401, {}, _error("InvalidAuthenticationToken", "Access token is empty."),
         Verdict.UNAUTHORIZED, None),
        (429, {"Retry-After": "7"}, _error("TooManyRequests", "slow down"), Verdict.THROTTLED,
         None),
        (404, {}, _error("ResourceNotFound", "Resource 'm9' was not found."), Verdict.REFUSED,
         None),
        (500, {}, _error("InternalServerError", "oops"), Verdict.UNKNOWN, None),
        (503, {}, b"<html>busy</html>", Verdict.UNKNOWN, None),
        (None, {}, b"", Verdict.UNKNOWN, None),
        # a lost body never loses the code that came in the headers
        (None, {"x-msft-approval-code": CODE}, b"", Verdict.UNKNOWN, CODE),
    ],
)  # fmt: skip
def test_every_documented_and_observed_answer(
    status: int | None,
    headers: dict[str, str],
    body: bytes,
    verdict: Verdict,
    code: str | None,
) -> None:
    classified = classify(status, headers, body)
    assert (classified.verdict, classified.code) == (verdict, code)


def test_nested_message_is_unwrapped_and_cut() -> None:
    classified = classify(412, {}, _nested(APPROVAL_TEXT, {"x-msft-approval-code": CODE}))
    assert classified.message.startswith(APPROVAL_TEXT + " - Operation ID")
    assert classified.error_code == "BadRequest"
    long = classify(400, {}, _error("BadRequest", "x" * 2000))
    assert len(long.message) == 500


def test_explanations_say_what_happened_and_what_to_do() -> None:
    throttled = classify(429, {"retry-after": "7"}, b"")
    assert (throttled.retry_after, throttled.hint) == (7.0, "try again after 7 seconds")
    applied = classify(204, {}, b"")
    assert applied.summary == (
        "applied WITHOUT approval (HTTP 204): no access policy protects this target, or this "
        "application is excluded from the policy that does"
    )
    lost = classify(None, {}, b"", failure="timeout")
    assert lost.summary.startswith("no usable answer (timeout, HTTP None)")
    assert {v for v in Verdict} == {classify(*case).verdict for case in _ONE_OF_EACH}


_ONE_OF_EACH = [
    (204, {}, b""),
    (412, {"x-msft-approval-code": CODE}, b""),
    (None, {}, b""),
    (400, {}, _error("", "Header 'x-msft-approval-justification' is required")),
    (400, {}, _error("", "'x-msft-approval-justification' must be a valid base64 string")),
    (400, {}, _error("", "'x-msft-approval-justification' header must be no greater than 1024")),
    (400, {}, _error("", "Invalid approval header format, expected GUID format")),
    (409, {}, b""),
    (403, {}, _error("Authorization_RequestDenied", "")),
    (403, {}, _error("", "An error has occurred")),
    (403, {}, b""),
    (401, {}, b""),
    (429, {}, b""),
    (404, {}, b""),
]


# ---- justification, code and write checks ------------------------------------------------------


def test_the_documented_justification_example() -> None:
    assert encode_justification("app only test") == "YXBwIG9ubHkgdGVzdA=="
    assert encode_justification("ünï") == "w7xuw68="


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the justification is empty"),
        (" \t\n", "the justification is empty"),
        ("x" * 1025, "the justification is 1025 characters; MAA accepts at most 1024"),
        ("😀" * 513, "the justification is 1026 characters; MAA accepts at most 1024"),
    ],
)
def test_justifications_refused_before_anything_is_sent(text: str, message: str) -> None:
    with pytest.raises(JustificationError) as refused:
        encode_justification(text)
    assert (refused.value.exit_code, refused.value.message) == (2, message)


def test_the_reference_counts_toward_the_limit() -> None:
    room = 1024 - REFERENCE_LENGTH
    sent = tagged("x" * room, "0123456789ab")
    assert len(sent) == 1024 and reference_in(sent) == "0123456789ab"
    with pytest.raises(JustificationError) as refused:
        tagged("x" * (room + 1), "0123456789ab")
    assert refused.value.hint == f"shorten it to {room} characters or fewer"


@pytest.mark.parametrize(
    "code", ["x", CODE + "0", "{" + CODE + "}", "YWFiYg==", CODE.replace("-", "")]
)
def test_codes_must_be_raw_guids(code: str) -> None:
    with pytest.raises(CodeError):
        checked_code(code)
    assert checked_code(CODE.upper()) == CODE


@pytest.mark.parametrize(
    ("method", "url", "body", "message"),
    [
        ("GET", "/deviceManagement/x", None, "method 'GET' is not a write"),
        ("patch", "/deviceManagement/x", {}, "method 'patch' is not a write"),
        ("PATCH", "deviceManagement/x", {}, "URL 'deviceManagement/x' is not a Graph path"),
        ("PATCH", "/groups/g1", {}, "URL '/groups/g1' is not under /deviceManagement"),
        ("POST", "/deviceManagement/$batch", {}, "$batch is not supported"),
        ("PATCH", "/deviceManagement/x#y", {}, "URL '/deviceManagement/x#y' has an empty"),
        ("PATCH", "/deviceManagement//x", {}, "URL '/deviceManagement//x' has an empty"),
        ("PATCH", "/deviceManagement/x", None, "a PATCH needs a body"),
        ("DELETE", "/deviceManagement/x", {}, "a DELETE takes no body"),
        ("POST", "/deviceManagement/x", {"n": float("nan")}, "the body cannot be sent as JSON"),
    ],
)
def test_writes_refused_before_anything_is_sent(
    method: str, url: str, body: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        WriteRequest(method, url, body)
    assert refused.value.message.startswith(message)


def test_version_and_exact_body_bytes() -> None:
    beta = WriteRequest("PATCH", "/deviceManagement/x?$select=id", {"b": 1, "a": "é"})
    assert (beta.version, beta.path, beta.content) == (
        "beta",
        "/deviceManagement/x?$select=id",
        '{"b":1,"a":"é"}'.encode(),
    )
    v1 = WriteRequest("DELETE", "/v1.0/deviceManagement/deviceCategories/k", None)
    assert (v1.version, v1.path, v1.content) == (
        "v1.0",
        "/deviceManagement/deviceCategories/k",
        b"",
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("2.5", 2.5),
        (" 7 ", 7.0),
        ("-1", None),  # negative: no wait is known
        ("-0.5", None),
        ("soon", None),  # not a number
        ("", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # an HTTP date: not read, the caller backs off
    ],
)
def test_retry_after_is_seconds_or_nothing(header: str, seconds: float | None) -> None:
    """Both readers of Retry-After: the write classifier and the collector's."""
    from maa_guard.collect.wire import retry_after_seconds

    throttled = classify(429, {"Retry-After": header}, _error("TooManyRequests", "slow down"))
    assert (throttled.verdict, throttled.retry_after) == (Verdict.THROTTLED, seconds)
    wait = "a while" if seconds is None else f"{seconds:g} seconds"
    assert throttled.hint == f"try again after {wait}"
    assert retry_after_seconds(header) == seconds
