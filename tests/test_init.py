"""`maa-guard init`: a commented maa-guard.toml that loads to exactly the defaults, its commented
examples that load too, the tenant's exclusions written as `exclusions export` writes them
(demo, snapshot, and live against the emulator in both profiles), and a file that exists is
never replaced without --force."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from profiles import PROFILES

from maa_guard.catalogue import load_catalogue
from maa_guard.cli import main
from maa_guard.cli.options import AUTH_METHODS, CLOUDS
from maa_guard.config import (
    Connection,
    Settings,
    find_config_file,
    load_connection,
    load_settings,
)
from maa_guard.emulator import Emulator, fixture_from_snapshot
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot
from maa_guard.watch.config import WatchConfig, load_watch_config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DEMO = load_snapshot(demo_path("snapshot.json"))
# A commented TOML block: from a commented table header to the next blank line.
_COMMENTED_BLOCK = re.compile(r"^# \[\[?[a-zA-Z.0-9<>]+\]\]?\n(?:#.*\n)*", re.MULTILINE)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and an environment without MAA_GUARD_* settings."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("MAA_GUARD_")]:
        monkeypatch.delenv(name)
    return tmp_path


def _init(*argv: str) -> int:
    return main(["init", *argv])


def _settings(path: Path) -> Settings:
    return load_settings(load_catalogue(), find_config_file(path, path.parent), {}, {})


def _uncommented(text: str) -> str:
    """Every commented-out TOML block of the file, commented in."""

    def comment_in(block: re.Match[str]) -> str:
        return "".join(line[2:] + "\n" for line in block.group(0).splitlines())

    return _COMMENTED_BLOCK.sub(comment_in, text)


# ---- the file --------------------------------------------------------------------------------


def test_the_file_has_every_section(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _init() == 0
    assert capsys.readouterr() == ("", "wrote maa-guard.toml\n")
    text = (here / "maa-guard.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    for line in (
        "[scan]",
        'fail_on = "high"',
        "allow_incomplete = false",
        '# rules = ["MAA201", "MAA202"]',
        '# skip_rules = ["MAA206"]',
        '# baseline = "maa-guard-baseline.json"',
        "[graph]",
        'exclusions_property = "auto"',
        "trust_declared_exclusions = false",
        "# [connection]",
        '# cloud = "global"  # global, usgov, usgov-dod, china',
        "# [[suppressions]]",
        "# [watch]",
        "# [[notify]]",
        "# [[exclusions]]",
    ):
        assert line in lines
    for rule in load_catalogue().values():
        assert (f"# [rules.{rule.id}]" in lines) == bool(rule.parameters)
        for name in rule.parameters:
            assert any(line.startswith(f"#   {name}: ") for line in lines)
    comments = " ".join(line[2:] for line in lines if line.startswith("# "))
    assert (
        "Microsoft Graph publishes no exclusion property for an access policy (the Exclusions "
        "tab of the Intune admin center is not exposed), so without one the exclusion rules "
        "MAA401-MAA409 say `error` and the scan exits 3. Turn this on once the [[exclusions]] "
        "entries at the end of this file list every exclusion of every policy"
    ) in comments


def test_the_file_loads_to_exactly_the_defaults(here: Path) -> None:
    assert _init() == 0
    path = here / "maa-guard.toml"
    found = find_config_file(path, here)
    assert found is not None
    assert _settings(path) == dataclasses.replace(Settings(), source=str(path))
    assert load_watch_config(found[1], str(path)) == WatchConfig(origin=str(path))
    flags = {"auth": None, "graph_endpoint": None, "cloud": None}
    connection = load_connection(found, {}, flags, auth_methods=AUTH_METHODS, clouds=CLOUDS)
    assert connection == Connection()


def test_every_commented_example_loads_and_the_rule_parameters_are_the_defaults(
    here: Path,
) -> None:
    assert _init() == 0
    path = here / "maa-guard.toml"
    uncommented = _uncommented(path.read_text(encoding="utf-8"))
    path.write_text(uncommented, encoding="utf-8")
    catalogue = load_catalogue()
    settings = _settings(path)
    with_parameters = {rule_id for rule_id, rule in catalogue.items() if rule.parameters}
    assert set(settings.rules) == with_parameters
    for rule_id in with_parameters:
        assert settings.rules[rule_id].parameters == catalogue[rule_id].parameters
        assert settings.parameters(catalogue[rule_id]) == catalogue[rule_id].parameters
    assert [s.rule for s in settings.suppressions] == ["MAA406"]
    assert [(e.policy, e.app) for e in settings.declared_exclusions] == [
        ("Apps - all platforms", "6c1f3e2a-8b1d-4c55-9a77-0d2b4e6f8a90")
    ]
    table = tomllib.loads(uncommented)
    watch = load_watch_config(table, str(path))
    assert (watch.interval, watch.warn_before, watch.scan_severity) == (
        WatchConfig().interval,
        WatchConfig().warn_before,
        WatchConfig().scan_severity,
    )
    assert [r.name for r in watch.receivers] == ["teams-approvers"]
    flags = {"auth": None, "graph_endpoint": None, "cloud": None}
    found = (path, table)
    assert load_connection(found, {}, flags, auth_methods=AUTH_METHODS, clouds=CLOUDS) == (
        Connection(
            auth="env",
            graph_endpoint="https://graph.microsoft.com",
            cloud="global",
            tenant_id="contoso.onmicrosoft.com",
        )
    )


def test_a_demo_scan_with_the_file_is_a_scan_with_the_defaults(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _init() == 0
    (here / "empty.toml").write_text("", encoding="utf-8")
    capsys.readouterr()
    assert main(["scan", "--demo", "--config", "maa-guard.toml", "--format", "json"]) == 1
    written = capsys.readouterr()
    assert main(["scan", "--demo", "--config", "empty.toml", "--format", "json"]) == 1
    empty = capsys.readouterr()
    assert json.loads(written.out) == json.loads(empty.out)
    assert written.err == empty.err


# ---- an existing file ------------------------------------------------------------------------


def test_an_existing_file_is_kept_without_force(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = here / "maa-guard.toml"
    path.write_text("# mine\n", encoding="utf-8")
    assert _init() == 2
    assert capsys.readouterr().err == (
        "error: maa-guard.toml already exists\n"
        "hint: use --force to replace it, or --path to write another file\n"
    )
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert sorted(p.name for p in here.iterdir()) == ["maa-guard.toml"]
    assert _init("--force") == 0
    assert path.read_text(encoding="utf-8").startswith("# maa-guard configuration, written by")


def test_path_names_another_file_and_pyproject_is_refused(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _init("--path", "conf/team.toml") == 0
    assert capsys.readouterr().err == "wrote conf/team.toml\n"
    assert _settings(here / "conf" / "team.toml").fail_on.label == "high"
    (here / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    assert _init("--path", "pyproject.toml", "--force") == 2
    assert capsys.readouterr().err == (
        "error: init writes a maa-guard.toml, not pyproject.toml\n"
        "hint: write maa-guard.toml, then move its tables under [tool.maa-guard] in "
        "pyproject.toml\n"
    )
    assert (here / "pyproject.toml").read_text(encoding="utf-8") == "[project]\nname = 'x'\n"


def test_force_replaces_even_a_broken_file_and_only_flags_collect(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A connection from the environment or the file does not make init collect (the
    endpoint here would refuse the connection): the broken file is not even read."""
    path = here / "maa-guard.toml"
    path.write_text('broken = \n[connection]\nauth = "token"\n', encoding="utf-8")
    monkeypatch.setenv("MAA_GUARD_AUTH", "token")
    monkeypatch.setenv("MAA_GUARD_GRAPH_ENDPOINT", "http://127.0.0.1:9")
    assert _init("--force") == 0
    assert capsys.readouterr() == ("", "wrote maa-guard.toml\n")
    monkeypatch.delenv("MAA_GUARD_AUTH")
    monkeypatch.delenv("MAA_GUARD_GRAPH_ENDPOINT")
    assert _settings(path) == dataclasses.replace(Settings(), source=str(path))


def test_a_bad_input_writes_nothing(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "broken.json").write_text("{", encoding="utf-8")
    assert _init("--snapshot", "broken.json") == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (here / "maa-guard.toml").exists()
    assert _init("--demo", "--snapshot", "broken.json") == 2
    assert not (here / "maa-guard.toml").exists()


# ---- the tenant's exclusions -----------------------------------------------------------------


def _exported(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["exclusions", "export", *argv]) == 0
    return capsys.readouterr().out


def _exclusions_part(text: str) -> str:
    """What follows the [[exclusions]] section's own two comment lines."""
    marker = "# ---- [[exclusions]]: the exclusions your team has agreed to, as code ----\n"
    section = text[text.index(marker) :]
    return section.split("\n", 3)[3].lstrip("\n")


def test_demo_writes_the_demo_exclusions_as_export_does(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = _exported(capsys, "--demo")
    assert _init("--demo") == 0
    assert capsys.readouterr().err == "wrote maa-guard.toml\n"
    text = (here / "maa-guard.toml").read_text(encoding="utf-8")
    assert _exclusions_part(text) == exported
    assert "# [[exclusions]]" not in text.splitlines()
    settings = _settings(here / "maa-guard.toml")
    declared = tomllib.loads(exported)["exclusions"]
    assert [(e.policy, e.app, e.owner, e.reason) for e in settings.declared_exclusions] == [
        (e["policy"], e["app"], e["owner"], e["reason"]) for e in declared
    ]
    assert len(declared) == 7
    expected = dataclasses.replace(
        Settings(),
        declared_exclusions=settings.declared_exclusions,
        source=str(here / "maa-guard.toml"),
    )
    assert settings == expected


def test_snapshot_writes_the_snapshot_exclusions_as_export_does(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = str(demo_path("snapshot.json"))
    exported = _exported(capsys, "--snapshot", snapshot)
    assert _init("--snapshot", snapshot) == 0
    text = (here / "maa-guard.toml").read_text(encoding="utf-8")
    assert _exclusions_part(text) == exported
    assert main(["scan", "--demo", "--config", "maa-guard.toml", "--format", "json"]) == 1


def _demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(params=PROFILES)
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(
        fixture_from_snapshot(DEMO), now=_demo_now, fixed_tokens=True, profile=request.param
    ) as served:
        yield served


def test_live_writes_the_collected_exclusions_as_export_does(
    here: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "maa-guard-reader")
    live = ["--auth", "token", "--graph-endpoint", emulator.url, "--days", "365", "--quiet"]
    exported = _exported(capsys, *live)
    assert _init(*live) == 0
    err = capsys.readouterr().err
    text = (here / "maa-guard.toml").read_text(encoding="utf-8")
    part = _exclusions_part(text)
    assert part.endswith(exported)
    note = part[: len(part) - len(exported)]
    if emulator.profile.published:
        # No exclusion property: the audit log's exclusions, and a note that others may exist.
        assert note.startswith("# the exclusions source is partial (no access policy carries an ")
        assert note.endswith(": the [[exclusions]] below may not be all of them\n\n")
        assert err.startswith("init: the exclusions source is partial (no access policy ")
        assert err.endswith(
            ": the [[exclusions]] below may not be all of them\nwrote maa-guard.toml\n"
        )
    else:
        assert (note, err) == ("", "wrote maa-guard.toml\n")
    declared = _settings(here / "maa-guard.toml").declared_exclusions
    assert len(declared) == len(tomllib.loads(exported)["exclusions"]) > 0
    today = datetime.now(timezone.utc).date()
    assert all(e.review_by is not None and e.review_by > today for e in declared)


def test_exclusions_that_cannot_be_read_are_said_and_exit_3(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "maa-guard-reader")
    deny = {"deviceManagement/operationApprovalPolicies": "DeviceManagementRBAC.Read.All"}
    with Emulator(
        fixture_from_snapshot(DEMO), now=_demo_now, fixed_tokens=True, faults={"deny": deny}
    ) as served:
        argv = ["--auth", "token", "--graph-endpoint", served.url, "--days", "365", "--quiet"]
        assert _init(*argv) == 3
    note = (
        "the exclusions source is failed (GET deviceManagement/operationApprovalPolicies: "
        "HTTP 403 Authorization_RequestDenied; missing permission "
        "DeviceManagementRBAC.Read.All): no exclusion could be read, so none is written below"
    )
    assert capsys.readouterr().err == f"init: {note}\nwrote maa-guard.toml\n"
    text = (here / "maa-guard.toml").read_text(encoding="utf-8")
    comments = " ".join(line[2:] for line in _exclusions_part(text).splitlines())
    assert comments.startswith(note)
    assert "[[exclusions]]" not in text.splitlines()
    assert _settings(here / "maa-guard.toml") == dataclasses.replace(
        Settings(), source=str(here / "maa-guard.toml")
    )
