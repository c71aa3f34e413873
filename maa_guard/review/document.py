"""A review as JSON and back: the stable shape documented in docs/review.md.

``review_to_json`` gives plain JSON data (``schema`` ``maa-guard.review/1``), with severities
as labels (``high``) and date-times in ISO 8601 UTC; it adds ``reasons`` and ``exit_code``,
derived for readers and ignored when read back. ``review_from_json`` is strict: a missing
field, a wrong type or another schema is an :class:`~maa_guard.errors.InputError` naming the
JSON path.
"""

from __future__ import annotations

import json
from typing import Any

from maa_guard.errors import InputError
from maa_guard.model import Severity
from maa_guard.review.model import REVIEW_SCHEMA, Review
from maa_guard.snapshot.codec import DecodeError, decode, encode

_HINT = "give a review written by 'maa-guard review --format json'"


def review_to_json(review: Review) -> dict[str, Any]:
    document: dict[str, Any] = encode(review)
    document["fail_on"] = review.fail_on.label
    for check in document["checks"]:
        check["severity"] = Severity(check["severity"]).label
    document["reasons"] = [c for c in document["checks"] if c["status"] == "fail"]
    document["exit_code"] = review.exit_code
    return {"schema": REVIEW_SCHEMA, **{k: v for k, v in document.items() if k != "schema"}}


def review_to_text(review: Review) -> str:
    return json.dumps(review_to_json(review), indent=2, ensure_ascii=False) + "\n"


def review_from_json(document: Any, origin: str = "review") -> Review:
    if not isinstance(document, dict):
        raise InputError(f"{origin}: a review is a JSON object", _HINT)
    if document.get("schema") != REVIEW_SCHEMA:
        raise InputError(
            f"{origin}: schema: expected {REVIEW_SCHEMA!r}, got {document.get('schema')!r}",
            _HINT,
        )
    try:
        shaped = {**document, "fail_on": _severity(document.get("fail_on"), "fail_on")}
        shaped["checks"] = _checks(document.get("checks"))
        return decode(Review, shaped)
    except DecodeError as error:
        raise InputError(f"{origin}: {error}", _HINT) from None


def _checks(value: Any) -> Any:
    if not isinstance(value, list):
        return value  # the decoder names the problem
    shaped = []
    for index, check in enumerate(value):
        if isinstance(check, dict) and "severity" in check:
            where = f"checks[{index}].severity"
            check = {**check, "severity": _severity(check["severity"], where)}
        shaped.append(check)
    return shaped


def _severity(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise DecodeError("expected a severity label").within(where)
    try:
        return int(Severity.parse(value))
    except ValueError as error:
        raise DecodeError(str(error)).within(where) from None
