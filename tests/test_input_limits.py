"""Hostile input is bad input (exit 2, one error line and its hint, no traceback), never an
"internal error" (exit 3): JSON or TOML nested deeper than a parser's recursion, numbers too
long to convert, and numbers out of range on the command line (--days, --port, durations...).

One property per input kind: the baseline, a draft file, a request body, an emulator tenant
file, a snapshot file, a configuration file, a fleet tenants file, and the numeric flags.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maa_guard.cli import main
from maa_guard.errors import EXIT_USAGE
from maa_guard.scan.served import demo_path
from maa_guard.storage.jsontext import MAX_DEPTH

FEW = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Past the depth limit, and far past any parser's recursion limit.
DEPTHS = st.one_of(
    st.integers(min_value=MAX_DEPTH + 1, max_value=MAX_DEPTH + 50),
    st.integers(min_value=900, max_value=1200),
    st.integers(min_value=5_000, max_value=200_000),
)
SHAPES = st.sampled_from(["list", "object", "mixed"])


def nested_json(depth: int, shape: str) -> str:
    if shape == "list":
        return "[" * depth + "]" * depth
    if shape == "object":
        return '{"a":' * depth + "1" + "}" * depth
    pairs = depth // 2 + 1
    return '[{"a":' * pairs + "1" + "}]" * pairs


def too_long_number() -> str:
    return "1" * 5_000  # more digits than Python converts to an int


@st.composite
def hostile_json(draw: st.DrawFn) -> str:
    """A document, or a plausible envelope around one value, that no loader may choke on."""
    deep = draw(st.booleans())
    inner = nested_json(draw(DEPTHS), draw(SHAPES)) if deep else too_long_number()
    return draw(st.sampled_from([inner, '{"schema_version": 1, "x": ' + inner + "}"]))


@st.composite
def hostile_toml(draw: st.DrawFn) -> str:
    depth = draw(DEPTHS)
    kind = draw(st.sampled_from(["array", "inline table", "number"]))
    if kind == "array":
        return "a = " + "[" * depth + "]" * depth + "\n"
    if kind == "inline table":
        return "a = " + "{b = " * depth + "1" + "}" * depth + "\n"
    return f"a = {too_long_number()}\n"


def run(argv: list[str]) -> tuple[int, str]:
    """``main`` with its standard output dropped; argparse's exit is the exit code."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, err.getvalue()


def assert_bad_input(code: int, err: str) -> None:
    assert code == EXIT_USAGE, err
    assert "Traceback" not in err and "internal error" not in err
    problems = [line for line in err.splitlines() if "error:" in line]
    assert len(problems) == 1, err
    hints = [line for line in err.splitlines() if line.startswith("hint:")]
    assert len(hints) <= 1, err


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "maa-guard-reader")
    return tmp_path


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@FEW
@given(document=hostile_json())
def test_a_hostile_baseline(folder: Path, document: str) -> None:
    path = _write(folder, "baseline.json", document)
    assert_bad_input(*run(["scan", "--demo", "--format", "json", "--baseline", str(path)]))


@FEW
@given(document=hostile_json())
def test_a_hostile_draft(folder: Path, document: str) -> None:
    path = _write(folder, "change.json", document)
    assert_bad_input(*run(["exclusions", "show", str(path)]))
    assert_bad_input(*run(["exclusions", "submit", str(path), "--graph-endpoint", "http://x"]))


@FEW
@given(document=hostile_json())
def test_a_hostile_request_body(folder: Path, document: str) -> None:
    path = _write(folder, "body.json", document)
    argv = ["request", "submit", "--method", "PATCH", "--url", "/deviceManagement/x"]
    argv += ["--justification", "rename the device", "--body", str(path)]
    assert_bad_input(*run([*argv, "--graph-endpoint", "http://127.0.0.1:9"]))


@FEW
@given(document=hostile_json())
def test_a_hostile_emulator_tenant(folder: Path, document: str) -> None:
    path = _write(folder, "tenant.json", document)
    assert_bad_input(*run(["emulate", "--tenant", str(path)]))


@FEW
@given(document=hostile_json())
def test_a_hostile_snapshot_file(folder: Path, document: str) -> None:
    path = _write(folder, "snapshot.json", document)
    assert_bad_input(*run(["scan", "--snapshot", str(path), "--format", "json"]))
    assert_bad_input(*run(["diff", str(path), str(path)]))


@FEW
@given(document=hostile_toml())
def test_a_hostile_config_file(folder: Path, document: str) -> None:
    path = _write(folder, "settings.toml", document)
    assert_bad_input(*run(["scan", "--demo", "--format", "json", "--config", str(path)]))
    shutil.copy(path, folder / "maa-guard.toml")
    assert_bad_input(*run(["watch", "--once", "--graph-endpoint", "http://127.0.0.1:9"]))


@FEW
@given(document=hostile_toml())
def test_a_hostile_tenants_file(folder: Path, document: str) -> None:
    path = _write(folder, "tenants.toml", document)
    assert_bad_input(*run(["fleet", "scan", "--tenants", str(path)]))


def test_the_messages_name_the_file_and_the_problem(folder: Path) -> None:
    deep = nested_json(50_000, "list")
    baseline = _write(folder, "baseline.json", deep)
    code, err = run(["scan", "--demo", "--baseline", str(baseline)])
    assert (code, err) == (
        EXIT_USAGE,
        f"error: {baseline}: not a valid baseline: nested too deeply\n"
        "hint: regenerate it with 'maa-guard scan --write-baseline FILE'\n",
    )
    tenant = _write(folder, "tenant.json", deep)
    assert run(["emulate", "--tenant", str(tenant)]) == (
        EXIT_USAGE,
        f"error: cannot read tenant fixture {tenant}: nested more than {MAX_DEPTH} levels deep\n"
        "hint: see docs/emulator-fixture.md for the tenant fixture contract\n",
    )
    config = _write(folder, "settings.toml", "a = " + "[" * 50_000 + "]" * 50_000)
    assert run(["scan", "--demo", "--config", str(config)]) == (
        EXIT_USAGE,
        f"error: {config}: not valid TOML: nested too deeply\nhint: fix the TOML syntax\n",
    )


def test_a_body_as_deep_as_a_real_one_is_accepted(folder: Path) -> None:
    from maa_guard.storage.jsontext import load_json_text

    body = nested_json(MAX_DEPTH, "object")
    assert load_json_text(body) is not None


# ---- numbers on the command line -------------------------------------------------------------

LIVE = ["--auth", "token", "--graph-endpoint", "http://127.0.0.1:9", "--quiet"]
HUGE = st.integers(min_value=10**9, max_value=10**40)


def _outside(low: int | None, high: int) -> st.SearchStrategy[int]:
    above = st.one_of(st.integers(min_value=high + 1, max_value=high + 10**6), HUGE)
    if low is None:
        return above
    return st.one_of(
        above, st.integers(max_value=low - 1, min_value=low - 10**6), HUGE.map(lambda n: -n)
    )


@FEW
@given(days=_outside(1, 3650))
def test_days_out_of_range(folder: Path, days: int) -> None:
    for command in (["scan"], ["impact"], ["snapshot", "-o", "s.json"], ["watch", "--once"]):
        code, err = run([*command, *LIVE, "--days", str(days)])
        assert_bad_input(code, err)
        assert err.splitlines()[-1].endswith(
            f"error: argument --days: expected a whole number from 1 to 3650, got {str(days)!r}"
        )


@FEW
@given(port=_outside(0, 65535))
def test_a_port_out_of_range(folder: Path, port: int) -> None:
    code, err = run(["emulate", "--tenant", str(demo_path("snapshot.json")), "--port", str(port)])
    assert_bad_input(code, err)
    assert err.splitlines()[-1].endswith(
        f"error: argument --port: expected a whole number from 0 to 65535, got {str(port)!r}"
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_busy_port(folder: Path, busy_port: int) -> None:
    argv = ["emulate", "--tenant", str(demo_path("snapshot.json")), "--port", str(busy_port)]
    assert run(argv) == (
        EXIT_USAGE,
        f"error: cannot listen on 127.0.0.1:{busy_port}: Address already in use\n"
        "hint: choose another --port, or --port 0 for any free one\n",
    )


@FEW
@given(amount=st.integers(min_value=366, max_value=10**30), unit=st.sampled_from("dhms"))
def test_watch_durations_out_of_range(folder: Path, amount: int, unit: str) -> None:
    seconds = {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    text = f"{amount * 86400 // seconds}{unit}"  # at least 366 days
    for flag in ("--interval", "--warn-before"):
        code, err = run(["watch", "--once", *LIVE, flag, text])
        assert (code, err) == (
            EXIT_USAGE,
            f"error: {flag}: at most 365 days, got {text!r}\n",
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", *LIVE, "--timeout", "nan"], "argument --timeout: expected seconds from 0 to "
         "2592000, got 'nan'"),
        (["scan", *LIVE, "--timeout", "inf"], "argument --timeout: expected seconds from 0 to "
         "2592000, got 'inf'"),
        (["scan", *LIVE, "--timeout", "1e300"], "argument --timeout: expected seconds from 0 to "
         "2592000, got '1e300'"),
        (["scan", *LIVE, "--timeout", "-1"], "argument --timeout: expected seconds from 0 to "
         "2592000, got '-1'"),
        (["emulate", "--tenant", "t.json", "--latency-ms", "99999999999999"],
         "argument --latency-ms: expected a whole number from 0 to 60000, got '99999999999999'"),
        (["exclusions", "export", "--demo", "--review-days", "99999999999"],
         "argument --review-days: expected a whole number up to 3650, got '99999999999'"),
        (["history", "list", "--limit", "99999999999999999999999"],
         "argument --limit: expected a whole number up to 1000000000, got "
         "'99999999999999999999999'"),
        (["fleet", "scan", "--tenants", "t.toml", "--parallel", "100000"],
         "argument --parallel: expected a whole number from 1 to 256, got '100000'"),
        (["scan", *LIVE, "--days", "1" * 5000], "argument --days: expected a whole number from 1 "
         "to 3650, got '" + "1" * 5000 + "'"),
    ],
)  # fmt: skip
def test_other_numbers_out_of_range(folder: Path, argv: list[str], message: str) -> None:
    code, err = run(argv)
    assert_bad_input(code, err)
    assert err.splitlines()[-1].endswith(f"error: {message}")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("days = 99999", "tenants[0].days: at most 3650"),
        ("timeout = nan", "tenants[0].timeout: expected a positive number"),
        ("timeout = inf", "tenants[0].timeout: at most 2592000"),
        ("timeout = 1e300", "tenants[0].timeout: at most 2592000"),
    ],
)
def test_fleet_numbers_out_of_range(folder: Path, setting: str, message: str) -> None:
    tenants = _write(folder, "t.toml", f'[[tenants]]\nname = "a"\ntenant_id = "t"\n{setting}\n')
    code, err = run(["fleet", "scan", "--tenants", str(tenants)])
    assert_bad_input(code, err)
    assert err.splitlines()[0] == f"error: {tenants}: {message}"


@pytest.mark.parametrize(
    "setting",
    [
        "[rules.MAA403]\nmax_credential_days = 99999999999",
        "[rules.MAA304]\nexpiry_warning_hours = 1000001",
        "[rules.MAA202]\nmin_approvers = -1",
    ],
)
def test_rule_numbers_out_of_range(folder: Path, setting: str) -> None:
    """A number no rule can use (days, hours, people) is a configuration error, not a rule error
    that overflows date arithmetic."""
    config = _write(folder, "maa-guard.toml", setting + "\n")
    code, err = run(["scan", "--demo", "--format", "json", "--config", str(config)])
    assert_bad_input(code, err)
    assert "expected a whole number from 0 to 1,000,000" in err.splitlines()[0]


@pytest.mark.parametrize(
    ("document", "section"),
    [
        ('{"collections": [1]}', "collections"),
        ('{"tokens": "x"}', "tokens"),
        ('{"tenant": []}', "tenant"),
        ('{"maa": 3}', "maa"),
    ],
)
def test_an_emulator_tenant_with_a_section_of_the_wrong_kind(
    folder: Path, document: str, section: str
) -> None:
    path = _write(folder, "tenant.json", document)
    code, err = run(["emulate", "--tenant", str(path)])
    assert_bad_input(code, err)
    assert err.splitlines()[0] == f"error: {section}: expected a JSON object"
