"""The pre-exclusion review: ``maa-guard review APP`` (docs/review.md).

A workflow over the pipeline: imports ``scan`` (live collection) and the stages below it;
never ``cli``.

Offline and pure::

    review = review_app(snapshot, "Intune Tag Sync", settings)   # -> Review
    review.verdict, review.reasons, review.exit_code
    review_to_json(review)      # stable JSON shape, schema "maa-guard.review/1"
    review_from_json(document)  # and back
    review_to_markdown(review)  # for a change ticket

Live (imports the Graph stack): ``maa_guard.review.collect.collect_for_review(client, APP,
settings, days)`` returns a snapshot holding just that app, to pass to ``review_app``.
"""

from __future__ import annotations

from maa_guard.review.document import review_from_json, review_to_json
from maa_guard.review.markdown import review_to_markdown
from maa_guard.review.model import REVIEW_RULES, REVIEW_SCHEMA, Review, Scope, Verdict
from maa_guard.review.resolve import AppReferenceError, CouldNotVerifyError
from maa_guard.review.terminal import review_to_terminal
from maa_guard.review.verdict import review_app

__all__ = [
    "REVIEW_RULES",
    "REVIEW_SCHEMA",
    "AppReferenceError",
    "CouldNotVerifyError",
    "Review",
    "Scope",
    "Verdict",
    "review_app",
    "review_from_json",
    "review_to_json",
    "review_to_markdown",
    "review_to_terminal",
]
