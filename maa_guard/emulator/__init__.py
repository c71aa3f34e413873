"""A loopback Microsoft Graph emulator with Intune Multi Admin Approval semantics.

Independent of the client: imports only ``snapshot``, ``model`` and ``errors``. Only ``cli``,
the demo (``scan.live``) and the tests import it.

``with Emulator(fixture) as emulator:`` serves the fixture (see ``docs/emulator-fixture.md``) on
``emulator.url``; ``fixture_from_snapshot`` builds a fixture from a snapshot. ``docs/emulator.md``
describes routes, faults, throttling and MAA behaviour.
"""

from __future__ import annotations

from maa_guard.emulator.fixture import fixture_from_snapshot
from maa_guard.emulator.graphroles import READER_ROLES, READER_TOKEN, app_token, user_token
from maa_guard.emulator.server import Emulator, serve_forever
from maa_guard.emulator.throttle import Limit
from maa_guard.emulator.wire import LoggedRequest

__all__ = [
    "READER_ROLES",
    "READER_TOKEN",
    "Emulator",
    "Limit",
    "LoggedRequest",
    "app_token",
    "fixture_from_snapshot",
    "serve_forever",
    "user_token",
]
