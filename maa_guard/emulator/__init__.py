"""A loopback Microsoft Graph emulator with Intune Multi Admin Approval semantics.

Independent of the client: imports only ``snapshot``, ``model`` and ``errors``. Only ``cli``,
the demo's own process (``emulator.recording``, started by ``scan.served``) and the tests
import it.

``with Emulator(fixture) as emulator:`` serves the fixture (see ``docs/emulator-fixture.md``) on
``emulator.url``; ``Emulator(fixture, profile="published")`` serves what Microsoft's Graph
publishes instead of the provisional exclusion property (``PROFILES``); ``fixture_from_snapshot``
builds a fixture from a snapshot. ``docs/emulator.md`` describes routes, profiles, faults,
throttling and MAA behaviour.

It listens on loopback only and answers only requests that name it by a loopback name (421
otherwise). Its bearer tokens are random for each emulator: ``emulator.reader_token``,
``emulator.app_token(app_id)``, ``emulator.user_token(user_id)``. ``READER_TOKEN``,
``app_token`` and ``user_token`` here are the fixture's token *names*, which are the tokens only
with ``Emulator(..., fixed_tokens=True)`` (tests and documentation).
"""

from __future__ import annotations

from maa_guard.emulator.fixture import fixture_from_snapshot
from maa_guard.emulator.graphroles import READER_ROLES, READER_TOKEN, app_token, user_token
from maa_guard.emulator.profiles import MAA_AUDIT_CATEGORY, PROFILES
from maa_guard.emulator.server import Emulator, serve_forever
from maa_guard.emulator.throttle import Limit
from maa_guard.emulator.wire import LoggedRequest

__all__ = [
    "MAA_AUDIT_CATEGORY",
    "PROFILES",
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
