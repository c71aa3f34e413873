"""Stage 4, the gate: a scan result, the threshold and the baseline make the exit code. Imports
``evaluate`` and ``model``; never ``collect``, ``reporters`` or ``cli``."""

from __future__ import annotations

from maa_guard.gate.decision import exit_code

__all__ = ["exit_code"]
