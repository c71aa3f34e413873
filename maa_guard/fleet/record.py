"""Recording each tenant's scan in the shared history (see maa_guard.history)."""

from __future__ import annotations

from maa_guard.errors import UsageError
from maa_guard.fleet.run import Recorder


def recorder_for(url: str | None) -> Recorder:
    raise UsageError("--record is not available yet", "scan without --record")
