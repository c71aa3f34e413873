"""Configuration: every key, precedence, and a clear exit-2 error naming each bad key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from maa_guard.catalogue import load_catalogue
from maa_guard.config import (
    DeclaredExclusion,
    RuleSettings,
    Settings,
    SuppressionEntry,
    find_config_file,
    load_settings,
)
from maa_guard.errors import ConfigError
from maa_guard.model import Severity

FULL = """
[scan]
fail_on = "medium"
allow_incomplete = true
rules = ["MAA401", "MAA402"]
skip_rules = ["MAA402"]
baseline = "base.json"

[graph]
exclusions_property = "excludedAppIds"

[rules.MAA202]
min_approvers = 3
severity = "critical"

[rules.MAA303]
enabled = false

[[suppressions]]
rule = "MAA401"
resource = "11111111-1111-1111-1111-111111111111"
reason = "vendor secret rotated by CHG0042"
expires = 2027-01-31

[[exclusions]]
policy = "Apps - all platforms"
app = "22222222-2222-2222-2222-222222222222"
owner = "intune-team@contoso.example"
reason = "Patch tool publishes app updates"
review_by = 2027-03-01
"""


def settings_from(
    tmp_path: Path,
    text: str,
    environ: dict[str, str] | None = None,
    flags: dict[str, object] | None = None,
) -> Settings:
    path = tmp_path / "maa-guard.toml"
    path.write_text(text)
    return load_settings(
        load_catalogue(), find_config_file(None, tmp_path), environ or {}, flags or {}
    )


def test_every_key_is_read(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, FULL)
    assert settings.fail_on is Severity.MEDIUM
    assert settings.allow_incomplete is True
    assert settings.only_rules == ("MAA401", "MAA402")
    assert settings.skip_rules == ("MAA402",)
    assert settings.baseline == Path("base.json")
    assert settings.exclusions_property == "excludedAppIds"
    assert settings.rules == {
        "MAA202": RuleSettings(True, Severity.CRITICAL, {"min_approvers": 3}),
        "MAA303": RuleSettings(False, None, {}),
    }
    assert settings.suppressions == (
        SuppressionEntry(
            "MAA401",
            "11111111-1111-1111-1111-111111111111",
            "vendor secret rotated by CHG0042",
            date(2027, 1, 31),
        ),
    )
    assert settings.declared_exclusions == (
        DeclaredExclusion(
            "Apps - all platforms",
            "22222222-2222-2222-2222-222222222222",
            "intune-team@contoso.example",
            "Patch tool publishes app updates",
            date(2027, 3, 1),
        ),
    )
    assert settings.selects("MAA401") and not settings.selects("MAA402")
    assert not settings.selects("MAA101")


def test_parameters_merge_over_catalogue_defaults(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, FULL)
    catalogue = load_catalogue()
    assert settings.parameters(catalogue["MAA202"]) == {"min_approvers": 3}
    assert settings.parameters(catalogue["MAA303"]) == {"min_justification_chars": 10}


def test_defaults_without_any_file(tmp_path: Path) -> None:
    assert find_config_file(None, tmp_path) is None
    settings = load_settings(load_catalogue(), None, {}, {})
    assert settings == Settings()
    assert settings.fail_on is Severity.HIGH
    assert (settings.exclusions_property, settings.trust_declared_exclusions) == ("auto", False)


def test_pyproject_tool_table_is_used(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.maa-guard.scan]\nfail_on = "low"\n')
    settings = load_settings(load_catalogue(), find_config_file(None, tmp_path), {}, {})
    assert settings.fail_on is Severity.LOW
    assert settings.source.endswith("pyproject.toml")


def test_maa_guard_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.maa-guard.scan]\nfail_on = "low"\n')
    assert settings_from(tmp_path, '[scan]\nfail_on = "critical"\n').fail_on is Severity.CRITICAL


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    text = '[scan]\nfail_on = "low"\nallow_incomplete = false\n'
    assert settings_from(tmp_path, text).fail_on is Severity.LOW
    environ = {
        "MAA_GUARD_FAIL_ON": "medium",
        "MAA_GUARD_ALLOW_INCOMPLETE": "true",
        "MAA_GUARD_EXCLUSIONS_PROPERTY": "fromEnv",
    }
    from_env = settings_from(tmp_path, text, environ)
    assert (from_env.fail_on, from_env.allow_incomplete, from_env.exclusions_property) == (
        Severity.MEDIUM,
        True,
        "fromEnv",
    )
    from_flags = settings_from(
        tmp_path, text, environ, {"fail_on": "critical", "allow_incomplete": None}
    )
    assert (from_flags.fail_on, from_flags.allow_incomplete) == (Severity.CRITICAL, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scan]\nfail_onn = 'high'\n", "unknown key scan.fail_onn"),
        ("colour = true\n", "unknown key colour"),
        ("[scan]\nfail_on = 'urgent'\n", "fail_on: unknown severity 'urgent'"),
        ("[scan]\nallow_incomplete = 'yes'\n", "allow_incomplete: expected true or false"),
        ("[scan]\nrules = ['MAA999']\n", "rules: unknown rule MAA999"),
        ("[rules.MAA999]\nenabled = false\n", "rules.MAA999: unknown rule"),
        ("[rules.MAA202]\nmin_approvers = 'two'\n", "rules.MAA202.min_approvers: expected a whole"),
        ("[rules.MAA202]\nmax_approvers = 3\n", "unknown key rules.MAA202.max_approvers"),
        (
            "[rules.MAA404]\nprivileged_permissions = 'x'\n",
            "privileged_permissions: expected a list",
        ),
        (
            "[[suppressions]]\nrule = 'MAA401'\nresource = 'x'\nexpires = 2027-01-01\n",
            "suppressions[0]: missing required key 'reason'",
        ),
        (
            "[[suppressions]]\nrule = 'MAA401'\nresource = 'x'\nreason = 'r'\nexpires = 'soon'\n",
            "suppressions[0].expires: expected a date",
        ),
        (
            "[[suppressions]]\nrule = 'MAA401'\nresource = 'x'\nreason = ' '\n"
            "expires = 2027-01-01\n",
            "suppressions[0].reason: expected a non-empty string",
        ),
        ("[[exclusions]]\npolicy = 'p'\n", "exclusions[0]: missing required key 'app'"),
        (
            "[[exclusions]]\npolicy = 'p'\napp = 'a'\nexpiry = 1\n",
            "unknown key exclusions[0].expiry",
        ),
        ("[graph]\nexclusions_property = ''\n", "exclusions_property: expected a non-empty string"),
        ("suppressions = 3\n", "suppressions: expected an array of tables"),
        ("[scan\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, text)
    assert message in caught.value.message
    assert caught.value.exit_code == 2


def test_bad_environment_value_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAA_GUARD_ALLOW_INCOMPLETE: expected true or false"):
        settings_from(tmp_path, "", {"MAA_GUARD_ALLOW_INCOMPLETE": "maybe"})
    with pytest.raises(ConfigError, match="environment: fail_on: unknown severity"):
        settings_from(tmp_path, "", {"MAA_GUARD_FAIL_ON": "severe"})


def test_explicit_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        find_config_file(tmp_path / "nope.toml", tmp_path)


def test_rule_flags_accept_comma_lists(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path, "", flags={"rules": ["maa401", "MAA402"], "skip_rules": ["MAA402"]}
    )
    assert settings.only_rules == ("MAA401", "MAA402")
    assert settings.skip_rules == ("MAA402",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.MAA101]\nhigh_severity_workloads = ['nonsense']\n", "unknown value 'nonsense'"),
        ("[rules.MAA404]\nprivileged_permissions = []\n", "expected at least one entry"),
        ("[rules.MAA409]\nhigh_impact_policy_types = ['']\n", "expected a list of strings"),
    ],
)
def test_bad_parameter_values_are_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, text)
    assert message in caught.value.message


def test_suppression_rule_ids_are_case_insensitive(tmp_path: Path) -> None:
    text = "[[suppressions]]\nrule = 'maa401'\nresource = 'x'\nreason = 'r'\nexpires = 2027-01-01\n"
    assert settings_from(tmp_path, text).suppressions[0].rule == "MAA401"


def test_explicit_pyproject_reads_its_tool_table(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[tool.maa-guard.scan]\nfail_on = "low"\n')
    settings = load_settings(load_catalogue(), find_config_file(pyproject, tmp_path), {}, {})
    assert settings.fail_on is Severity.LOW
    pyproject.write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool\.maa-guard\] table"):
        find_config_file(pyproject, tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'tool = "x"\n', "tool: expected a table"),
        (b"[tool]\nmaa-guard = 1\n", "tool.maa-guard: expected a table"),
        (b"[tool.maa-guard]\nx = '\xff'\n", "not UTF-8 text"),
    ],
)
def test_malformed_pyproject_is_an_error(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "pyproject.toml").write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        find_config_file(None, tmp_path)
    assert message in caught.value.message
