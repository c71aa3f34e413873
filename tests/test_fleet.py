"""`maa-guard fleet scan`: many tenants, one run.

Three emulator tenants over real HTTP with the real client stack; one has broken credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.errors import ConfigError, UsageError
from maa_guard.fleet.report import FleetRun, render_html, render_table
from maa_guard.fleet.run import TenantOutcome, fleet_exit_code
from maa_guard.fleet.tenants import FleetTenant, load_tenants, parse_shard, shard_of
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
TENANTS = {
    "Contoso": "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58",
    "Fabrikam": "7d1c0b9e-2a44-4c1b-9d7e-1f2e3d4c5b6a",
    "Broken <b>Ltd</b>": "0b5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f70",
}


def _fixture(tenant_id: str, name: str, token: str) -> dict[str, Any]:
    fixture = fixture_from_snapshot(DEMO)
    fixture["tenant"] = {**fixture["tenant"], "id": tenant_id, "displayName": name}
    fixture["collections"]["organization"] = [{"id": tenant_id, "displayName": name}]
    fixture["tokens"][token] = fixture["tokens"][graphroles.READER_TOKEN]
    return fixture


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        urls = {}
        for name, tenant_id in TENANTS.items():
            token = f"token-for-{tenant_id}"
            fixture = _fixture(tenant_id, name, token)
            emulator = stack.enter_context(Emulator(fixture, fixed_tokens=True))
            urls[name] = emulator.url
        yield urls


def _tenants_file(tmp_path: Path, urls: dict[str, str]) -> Path:
    lines = ['[defaults]\nauth = "token"\ndays = 200\n']
    for index, (name, tenant_id) in enumerate(TENANTS.items()):
        lines.append(
            f'[[tenants]]\nname = "{name}"\ntenant_id = "{tenant_id}"\n'
            f'graph_endpoint = "{urls[name]}"\ntoken_env = "FLEET_TOKEN_{index}"\n'
        )
    # The third tenant signs in with a certificate that is not there.
    lines[-1] += 'auth = "certificate"\nclient_id = "app"\ncertificate_path = "missing.pem"\n'
    path = tmp_path / "tenants.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_three_tenants_one_with_broken_credentials(
    emulators: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLEET_TOKEN_0", f"token-for-{TENANTS['Contoso']}")
    monkeypatch.setenv("FLEET_TOKEN_1", f"token-for-{TENANTS['Fabrikam']}")
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "must-not-leak-into-any-tenant")
    out = tmp_path / "reports"
    args = ["fleet", "scan", "--tenants", str(_tenants_file(tmp_path, emulators))]
    args += ["--out-dir", str(out), "--parallel", "3", "--format", "json"]
    args += ["--output", f"html={tmp_path / 'fleet.html'}"]
    code = main(args)
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    rows = {row["name"]: row for row in report["tenants"]}
    assert [row["name"] for row in report["tenants"]] == list(TENANTS)
    assert {name: (row["status"], row["exit_code"]) for name, row in rows.items()} == {
        "Contoso": ("fail", 1),
        "Fabrikam": ("fail", 1),
        "Broken <b>Ltd</b>": ("error", 2),
    }
    assert code == report["exit_code"] == 2
    assert report["counts"] == {"total": 3, "pass": 0, "fail": 2, "incomplete": 0, "error": 1}
    for name, stem in (("Contoso", "Contoso-4c8e2f1a"), ("Fabrikam", "Fabrikam-7d1c0b9e")):
        report = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        assert report["tenant"]["id"] == TENANTS[name]
        assert rows[name]["failing"] == report["summary"]["failing_by_severity"]
        assert rows[name]["unverified"] == report["summary"]["by_status"]["error"] == 0
    assert rows["Broken <b>Ltd</b>"]["message"] != ""
    assert "must-not-leak" not in captured.out + captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "Contoso-4c8e2f1a.html",
        "Contoso-4c8e2f1a.json",
        "Fabrikam-7d1c0b9e.html",
        "Fabrikam-7d1c0b9e.json",
    ]
    page = (tmp_path / "fleet.html").read_text(encoding="utf-8")
    assert "Broken &lt;b&gt;Ltd&lt;/b&gt;" in page and "<b>Ltd" not in page
    assert '<a href="Contoso-4c8e2f1a.html">' in page
    progress = [line.split("] ", 1)[1].rsplit(" (", 1)[0] for line in captured.err.splitlines()]
    assert sorted(progress) == ["Broken <b>Ltd</b>: error", "Contoso: fail", "Fabrikam: fail"]


def _outcome(name: str, status: str, code: int) -> TenantOutcome:
    return TenantOutcome(name=name, tenant_id=name, status=status, exit_code=code, seconds=1.0)


@pytest.mark.parametrize(
    ("codes", "worst"),
    [((), 0), ((0, 0), 0), ((0, 3), 3), ((3, 1, 0), 1), ((1, 2, 3), 2)],
)
def test_the_fleet_exit_code_is_the_worst_tenants(codes: tuple[int, ...], worst: int) -> None:
    assert fleet_exit_code([_outcome(str(i), "x", c) for i, c in enumerate(codes)]) == worst


def _tenant(number: int) -> FleetTenant:
    return FleetTenant(name=f"t{number}", tenant_id=f"00000000-0000-0000-0000-{number:012d}")


def test_shards_split_the_fleet_into_disjoint_stable_shares() -> None:
    fleet = [_tenant(n) for n in range(200)]
    shares = [shard_of(fleet, k, 4) for k in range(1, 5)]
    assert sorted(t.name for share in shares for t in share) == sorted(t.name for t in fleet)
    assert all(30 < len(share) < 70 for share in shares)
    grown = [*fleet, _tenant(999)]
    for k, share in enumerate(shares, start=1):
        assert set(share) <= set(shard_of(grown, k, 4))


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "x/2", "1-2", ""])
def test_a_malformed_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="expected K/N"):
        parse_shard(text)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[tenants]]\nname = "a"\ntenant_id = "t"\nclient_secret = "hunter2"\n', "secrets are"),
        ('[[tenants]]\nname = "a"\ntenant_id = "t"\ncolour = "red"\n', "unknown key 'colour'"),
        ('[[tenants]]\nname = "a"\n', "tenant_id is required"),
        (
            '[[tenants]]\nname = "a"\ntenant_id = "t"\n[[tenants]]\nname = "A"\ntenant_id = "u"\n',
            "two tenants are named",
        ),
        ('[[tenants]]\nname = "a"\ntenant_id = "t"\nauth = "device-code"\n', "not a fleet sign-in"),
        ('[[tenants]]\nname = "a"\ntenant_id = "t"\ndays = 0\n', "expected a positive number"),
        ("[defaults]\n", "no [[tenants]] entries"),
        ("tenants = [", "not valid TOML"),
    ],
)
def test_a_bad_tenants_file_is_refused_before_any_scan(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        load_tenants(path)
    assert "hunter2" not in raised.value.message


def test_defaults_apply_and_tenant_keys_win(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(
        '[defaults]\nauth = "certificate"\nclient_id = "app"\nconfig = "base.toml"\n'
        '[[tenants]]\nname = "a"\ntenant_id = "t1"\n'
        '[[tenants]]\nname = "b"\ntenant_id = "t2"\nauth = "token"\nskip_rules = ["MAA102"]\n',
        encoding="utf-8",
    )
    first, second = load_tenants(path)
    assert (first.auth, first.client_id, first.config) == (
        "certificate",
        "app",
        tmp_path / "base.toml",
    )
    assert (second.auth, second.skip_rules) == ("token", ("MAA102",))


def test_the_terminal_table_shows_hostile_names_inert() -> None:
    run = FleetRun((_outcome("[bold]x\x1b[31m", "pass", 0),), 0, DEMO.collected_at)
    table = render_table(run, color=False)
    assert "[bold]x\\x1b[31m" in table
    assert "\x1b" not in table
    assert "&lt;" in render_html(FleetRun((_outcome("<i>", "pass", 0),), 0, DEMO.collected_at))


def test_fleet_scans_meet_in_one_history(
    emulators: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLEET_TOKEN_0", f"token-for-{TENANTS['Contoso']}")
    monkeypatch.setenv("FLEET_TOKEN_1", f"token-for-{TENANTS['Fabrikam']}")
    history = str(tmp_path / "shared.db")
    tenants = str(_tenants_file(tmp_path, emulators))
    for shard in ("1/2", "2/2"):
        args = ["fleet", "scan", "--tenants", tenants, "--shard", shard, "--format", "json"]
        main([*args, "--record", "--history", history, "--quiet"])
    capsys.readouterr()
    assert main(["history", "list", "--history", history, "--format", "json"]) == 0
    scans = json.loads(capsys.readouterr().out)["scans"]
    assert sorted(s["tenant_id"] for s in scans) == sorted(
        [TENANTS["Contoso"], TENANTS["Fabrikam"]]
    )


def test_a_missing_tenants_file_is_exit_2_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.toml"
    assert main(["fleet", "scan", "--tenants", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot read tenants file {missing}: No such file or directory\n"
        "hint: give a TOML file of [[tenants]] (docs/fleet.md)\n"
    )
