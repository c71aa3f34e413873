"""Every HTML report kind, opened from disk in headless Chromium under its own CSP.

What a person sees: no console error, no Content-Security-Policy violation, no network request,
the chart and the coverage matrix in the DOM with the counts the report's data gives, and tenant
names that carry markup shown as text (a canary script never runs). Chromium comes from Debian's
package (``.ci/run`` installs it); without it these tests skip and say so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from maa_guard.cli import main
from maa_guard.fleet.report import FleetRun, TenantOutcome, render_html
from maa_guard.workloads import WORKLOADS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (Debian package chromium)"
)

DEMO = Path(__file__).resolve().parent.parent / "maa_guard" / "data" / "demo" / "snapshot.json"
GENERATED_AT = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
CANARY_SCRIPT = "<script>window.__canary = 1; document.title = 'pwned'</script>"
CANARY_IMAGE = '<img src="x" onerror="window.__canary = 2">'
# The flags Chromium needs on a machine with no network and no display.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    (event) => window.__violations.push(event.violatedDirective));
"""


@dataclass
class Visit:
    """What the page did while it was open."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def _open(browser: Any, report: Path) -> Visit:
    page = browser.new_page()
    visit = Visit(page)
    page.on("console", lambda message: _record_error(visit, message))
    page.on("pageerror", lambda error: visit.console_errors.append(str(error)))
    page.on("request", lambda request: visit.requests.append(request.url))
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    return visit


def _record_error(visit: Visit, message: Any) -> None:
    if message.type == "error":
        visit.console_errors.append(message.text)


def _assert_quiet_and_inert(visit: Visit, report: Path) -> None:
    assert visit.console_errors == []
    assert visit.evaluate("window.__violations") == []
    assert visit.requests == [report.as_uri()]
    assert visit.evaluate("window.__canary") is None
    assert visit.count("script") == 0
    assert visit.count("img") == 0


def _hostile_snapshot(folder: Path) -> Path:
    snapshot = json.loads(DEMO.read_text(encoding="utf-8"))
    snapshot["groups"][0]["displayName"] = CANARY_SCRIPT
    snapshot["service_principals"][0]["displayName"] = CANARY_IMAGE
    snapshot["policies"][0]["displayName"] = CANARY_SCRIPT + CANARY_IMAGE
    path = folder / "hostile.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hostile_snapshot(tmp_path_factory.mktemp("hostile"))


def test_scan_report(browser: Any, hostile: Path, tmp_path: Path) -> None:
    html, data = tmp_path / "scan.html", tmp_path / "scan.json"
    main(
        ["scan", "--snapshot", str(hostile), "--output", f"html={html}", "--output", f"json={data}"]
    )
    report = json.loads(data.read_text(encoding="utf-8"))
    visit = _open(browser, html)
    _assert_quiet_and_inert(visit, html)
    assert visit.count("#summary svg g.bar") == 4  # one bar per severity
    policies = len(json.loads(hostile.read_text(encoding="utf-8"))["policies"])
    assert visit.count("#coverage table tr") == len(WORKLOADS) + 1
    assert visit.count("#coverage table tr:first-child th") == policies + 2
    assert visit.count("#findings .finding") == len(report["findings"])
    header = visit.page.locator("#coverage table tr:first-child th").nth(1).inner_text()
    assert header.startswith(CANARY_SCRIPT + CANARY_IMAGE)


def test_impact_report(browser: Any, hostile: Path, tmp_path: Path) -> None:
    html, data = tmp_path / "impact.html", tmp_path / "impact.json"
    main(["impact", "--snapshot", str(hostile), "-o", str(html), "-o", str(data)])
    report = json.loads(data.read_text(encoding="utf-8"))
    visit = _open(browser, html)
    _assert_quiet_and_inert(visit, html)
    writers = [row for row in report["rows"] if row["writes"]]
    assert visit.count("#chart svg g.bar") == min(len(writers), 30) > 0
    assert visit.count("#apps table tr") == len(report["rows"]) + 1
    assert CANARY_IMAGE in visit.page.locator("#apps").inner_text()


def test_fleet_overview(browser: Any, tmp_path: Path) -> None:
    outcomes = (
        TenantOutcome(name=CANARY_SCRIPT, tenant_id="t1", status="fail", exit_code=1, seconds=1.0),
        TenantOutcome(name=CANARY_IMAGE, tenant_id="t2", status="pass", exit_code=0, seconds=2.0),
    )
    html = tmp_path / "fleet.html"
    html.write_text(render_html(FleetRun(outcomes, 1, GENERATED_AT)), encoding="utf-8")
    visit = _open(browser, html)
    _assert_quiet_and_inert(visit, html)
    assert visit.count("tbody tr") == 2
    assert visit.page.locator("tbody tr td").first.inner_text() == CANARY_SCRIPT
