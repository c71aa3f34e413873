"""A recorded tenant (a snapshot file) served by the emulator in a process of its own: the
child side of ``maa_guard.scan.served``.

``python -c "...; from maa_guard.emulator.recording import main; main()" SNAPSHOT`` loads the
snapshot, serves it on 127.0.0.1 on the recording's clock (:func:`recording_clock`), and
writes one JSON line on standard output: ``{"url", "reader_token", "collected_at"}``, or
``{"error", "hint"}`` when it cannot. Then each line ``log`` on standard input is answered with the
request log as one JSON line; the end of standard input ends the process at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from maa_guard.snapshot import Snapshot

_ACTIVE_REQUESTS = frozenset({"needsApproval", "approved"})
_LISTEN = "the demo's emulator listens on a free port of 127.0.0.1: allow loopback connections"


def recording_clock(recorded: Snapshot) -> datetime:
    """The recording's collection time, or just before the first expiry of a request it
    shows active (an approved request past its expiry), whichever is earlier."""
    expiries = [
        request.expiration_date_time - timedelta(seconds=1)
        for request in recorded.approval_requests
        if request.status in _ACTIVE_REQUESTS and request.expiration_date_time is not None
    ]
    return min([recorded.collected_at, *expiries])


def main() -> None:
    """Serve the snapshot named by the first argument until standard input ends."""
    from maa_guard.emulator import Emulator, fixture_from_snapshot
    from maa_guard.errors import MaaGuardError
    from maa_guard.snapshot.file import load_snapshot

    try:
        recorded = load_snapshot(Path(sys.argv[1]))
        held = recording_clock(recorded)
        emulator = Emulator(fixture_from_snapshot(recorded), now=lambda: held).start()
        ready = {
            "url": emulator.url,
            "reader_token": emulator.reader_token,
            "collected_at": recorded.collected_at.isoformat(),
        }
    except MaaGuardError as error:
        _end({"error": error.message, "hint": error.hint})
    except OSError as error:
        _end({"error": f"cannot listen on 127.0.0.1: {error.strerror or error}", "hint": _LISTEN})
    except (LookupError, ValueError) as error:
        _end({"error": f"the recording is not a tenant the emulator can serve ({error})"})
    _say(ready)
    for line in sys.stdin:
        if line.strip() == "log":
            _say([dataclasses.asdict(request) for request in emulator.requests])
    _end(None)


def _say(document: Any) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def _end(document: Any) -> NoReturn:
    """Exit now: the emulator's threads and sockets end with the process, so nobody waits
    for an orderly shutdown of a server no one will call again."""
    if document is not None:
        _say(document)
    os._exit(0)
