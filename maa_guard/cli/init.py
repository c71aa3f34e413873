"""`init`: write a commented maa-guard.toml (parser, handler and the file's text).

Every value written is the built-in default, taken from the settings and the rule catalogue
themselves, so the file loads to exactly the settings of no file at all. Given an input
(``--snapshot``, ``--demo`` or live collection), the tenant's exclusions follow as
``[[exclusions]]`` entries, written by the same code as ``maa-guard exclusions export``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maa_guard.cli.options import AUTH_METHODS, CLOUDS, SubParsers, add_live_options
from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from maa_guard.catalogue import Rule
    from maa_guard.config import Settings
    from maa_guard.scan.pipeline import ScanRequest
    from maa_guard.snapshot import Snapshot
    from maa_guard.watch.config import WatchConfig

DEFAULT_PATH = "maa-guard.toml"
WIDTH = 96
# A commented example stays readable for this long; after that a list goes one item a line.
_ONE_LINE_LIST = 72
_SENTENCE_END = re.compile(r"(?<=\.) (?=[A-Z])")


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    init = commands.add_parser(
        "init",
        parents=[common],
        help="write a commented maa-guard.toml with every default (and the tenant's exclusions)",
        epilog="exit codes: 0 written, 2 the file exists (use --force) or bad input, "
        "3 written, but the tenant's exclusions could not be read",
    )
    init.add_argument(
        "--path",
        type=Path,
        default=Path(DEFAULT_PATH),
        metavar="FILE",
        help=f"the file to write (default {DEFAULT_PATH})",
    )
    init.add_argument("--force", action="store_true", help="replace the file if it exists")
    init.add_argument(
        "--snapshot",
        type=Path,
        metavar="FILE",
        help="also write the exclusions this snapshot holds as [[exclusions]]",
    )
    init.add_argument("--demo", action="store_true", help="also write the demo tenant's exclusions")
    add_live_options(
        init,
        title="the tenant's exclusions, collected live (read-only) when --auth or "
        "--graph-endpoint is given",
    )
    init.set_defaults(handler=run_init, config=None, live_only_by_flags=True)


def run_init(args: argparse.Namespace) -> int:
    from maa_guard.catalogue import load_catalogue
    from maa_guard.storage.files import check_output_target, write_atomically

    target: Path = args.path
    _check_target(target, args.force)
    check_output_target(target, [("--snapshot", args.snapshot)] if args.snapshot else [])
    today = datetime.now(timezone.utc).date()
    exclusions, readable = _tenant_exclusions(args, today)
    write_atomically(target, config_text(load_catalogue(), today, exclusions))
    print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK if readable else EXIT_INCOMPLETE


def _check_target(target: Path, force: bool) -> None:
    if target.name == "pyproject.toml":
        raise UsageError(
            f"init writes a maa-guard.toml, not {target}",
            "write maa-guard.toml, then move its tables under [tool.maa-guard] in pyproject.toml",
        )
    if (target.exists() or target.is_symlink()) and not force:
        raise UsageError(
            f"{target} already exists",
            "use --force to replace it, or --path to write another file",
        )


# ---- the tenant's exclusions -----------------------------------------------------------------


def _tenant_exclusions(args: argparse.Namespace, today: date) -> tuple[str | None, bool]:
    """The ``exclusions export`` text for the input named, and whether the exclusions could
    be read at all; (None, True) without an input."""
    from maa_guard.cli.options import scan_request
    from maa_guard.exclusions.export import export_exclusions
    from maa_guard.model import SourceState
    from maa_guard.scan.pipeline import snapshot_for

    request = scan_request(args)
    if not (request.demo or request.snapshot is not None or request.live is not None):
        return None, True
    settings = _collection_settings(request)
    snapshot = snapshot_for(request, settings, os.environ)
    status = snapshot.source_state("exclusions")
    note = _source_note(snapshot)
    if note:
        print(f"init: {note}", file=sys.stderr)
    exported = export_exclusions(snapshot, today, settings.declared_exclusions)
    text = _comment(note) + "\n" + exported if note else exported
    return text, status.state != SourceState.FAILED


def _collection_settings(request: ScanRequest) -> Settings:
    """As ``exclusions export`` reads them for the demo (its own configuration); otherwise
    the defaults and the ``MAA_GUARD_*`` variables: the file being replaced is not read."""
    from maa_guard.catalogue import load_catalogue
    from maa_guard.config import load_settings
    from maa_guard.scan.pipeline import settings_for

    if request.demo:
        return settings_for(request, os.environ, Path.cwd())
    return load_settings(load_catalogue(), None, os.environ, {})


def _source_note(snapshot: Snapshot) -> str:
    """Empty when the exclusions were read completely (or are declared); else what is
    missing and why, in the collector's words."""
    from maa_guard.model import SourceState
    from maa_guard.reporters.text import one_line

    status = snapshot.source_state("exclusions")
    if status.state in (SourceState.COMPLETE, SourceState.DECLARED):
        return ""
    note = f"the exclusions source is {status.state.value}"
    if status.reason:
        note += f" ({one_line(status.reason)})"
    if status.state is SourceState.FAILED:
        return note + ": no exclusion could be read, so none is written below"
    return note + ": the [[exclusions]] below may not be all of them"


# ---- the file --------------------------------------------------------------------------------


def config_text(catalogue: Mapping[str, Rule], today: date, exclusions: str | None = None) -> str:
    """The whole commented file. ``exclusions``: ``exclusions export`` text to end it with;
    without it, a commented example."""
    from maa_guard import __version__
    from maa_guard.config import Settings
    from maa_guard.watch.config import WatchConfig

    defaults, watch = Settings(), WatchConfig()
    sections = [
        _header(__version__, today),
        _scan_section(defaults),
        _graph_section(defaults),
        _connection_section(),
        _rules_section(catalogue),
        _suppressions_section(today),
        _watch_section(watch),
        _exclusions_section(exclusions, today),
    ]
    return "\n".join(sections)


def _header(version: str, today: date) -> str:
    return _comment(
        f"maa-guard configuration, written by `maa-guard init` (maa-guard {version}) on "
        f"{today.isoformat()}.\n"
        "Settings apply in this order: built-in defaults < this file < MAA_GUARD_* environment "
        "variables < command-line flags. Every value below is the built-in default; every key "
        "is explained in docs/configuration.md. An unknown key or a bad value is an error "
        "(exit 2) that names it."
    )


def _scan_section(defaults: Settings) -> str:
    return (
        "[scan]\n"
        + _comment(
            "The lowest severity of a failing finding that makes `maa-guard scan` exit 1: "
            "critical, high, medium or low (--fail-on, MAA_GUARD_FAIL_ON)."
        )
        + f"fail_on = {_value(defaults.fail_on.label)}\n"
        + _comment(
            "true: do not exit 3 when a rule could not verify; its findings stay `error` "
            "(--allow-incomplete, MAA_GUARD_ALLOW_INCOMPLETE)."
        )
        + f"allow_incomplete = {_value(defaults.allow_incomplete)}\n"
        + _comment("Run only these rules (--rule ID); default: every rule.")
        + '# rules = ["MAA201", "MAA202"]\n'
        + _comment("Do not run these rules (--skip-rule ID); default: none.")
        + '# skip_rules = ["MAA206"]\n'
        + _comment(
            "Count only the failures whose fingerprints are not in this baseline file "
            "(--baseline, MAA_GUARD_BASELINE); `maa-guard scan --write-baseline FILE` writes "
            "one. Default: none."
        )
        + '# baseline = "maa-guard-baseline.json"\n'
    )


def _graph_section(defaults: Settings) -> str:
    return (
        "[graph]\n"
        + _comment(
            "The access-policy property that lists excluded apps, read when collecting from "
            'Graph (MAA_GUARD_EXCLUSIONS_PROPERTY). "auto" uses one whose name contains "exclu" '
            "when the tenant returns it."
        )
        + f"exclusions_property = {_value(defaults.exclusions_property)}\n"
        + _comment(
            "Microsoft Graph publishes no exclusion property for an access policy (the "
            "Exclusions tab of the Intune admin center is not exposed), so without one the "
            "exclusion rules MAA401-MAA409 say `error` and the scan exits 3. Turn this on once "
            "the [[exclusions]] entries at the end of this file list every exclusion of every "
            "policy: the declaration plus the audit log then are the exclusions inventory "
            "(MAA_GUARD_TRUST_DECLARED_EXCLUSIONS). Leave it off while the list is incomplete."
        )
        + f"trust_declared_exclusions = {_value(defaults.trust_declared_exclusions)}\n"
    )


def _connection_section() -> str:
    return _comment(
        "---- [connection]: how the live commands reach Microsoft Graph ----\n"
        "Flags win, then MAA_GUARD_AUTH, MAA_GUARD_CLOUD, MAA_GUARD_GRAPH_ENDPOINT and "
        "MAA_GUARD_TENANT_ID. Naming `auth` or `graph_endpoint` here makes `scan` and the other "
        "commands collect live without a flag. Defaults: the credential chain (env, "
        "workload-identity, managed-identity, azure-cli), the global cloud and its Graph."
    ) + _commented(
        "[connection]\n"
        f'auth = "env"  # {", ".join(AUTH_METHODS)}\n'
        f'cloud = "{CLOUDS[0]}"  # {", ".join(CLOUDS)}\n'
        'graph_endpoint = "https://graph.microsoft.com"  # or an emulator, or a proxy\n'
        'tenant_id = "contoso.onmicrosoft.com"  # when AZURE_TENANT_ID is not set; or the GUID\n'
    )


def _rules_section(catalogue: Mapping[str, Rule]) -> str:
    intro = _comment(
        "---- [rules.<ID>]: per-rule settings ----\n"
        'Every rule takes `enabled = false` (skip it) and `severity = "critical"` (override '
        "the severity of its findings). The rules with parameters follow, each with its "
        "defaults from the catalogue (`maa-guard rules show ID` explains a rule)."
    )
    blocks = [_rule_block(rule) for rule in catalogue.values() if rule.parameters]
    return intro + "".join("\n" + block for block in blocks)


def _rule_block(rule: Rule) -> str:
    meanings = "".join(
        _comment(f"{name}: {_meaning(rule.summary, name)}", indent="  ") for name in rule.parameters
    )
    lines = [f"[rules.{rule.id}]"]
    lines += [_assignment(name, value) for name, value in rule.parameters.items()]
    return _comment(f"{rule.id} {rule.title}") + meanings + _commented("\n".join(lines))


def _meaning(summary: str, parameter: str) -> str:
    """The catalogue summary's sentence that names the parameter (else its first sentence)."""
    sentences = _SENTENCE_END.split(" ".join(summary.split()))
    return next((s for s in sentences if parameter in s), sentences[0])


def _suppressions_section(today: date) -> str:
    expires = today + timedelta(days=90)
    return _comment(
        "---- [[suppressions]]: accept one failing finding, with a reason and an expiry ----\n"
        "`resource` is the finding's resource.id (`policyId/appId` for an exclusion); from the "
        "day after `expires` the suppression stops suppressing."
    ) + _commented(
        "[[suppressions]]\n"
        'rule = "MAA406"\n'
        'resource = "3f3c2a51-9d7e-4c8e-a1f0-6f2e5a0c1b77"\n'
        'reason = "a vetted vendor app (risk accepted in CHG0012345)"\n'
        f"expires = {expires.isoformat()}\n"
    )


def _watch_section(watch: WatchConfig) -> str:
    return _comment(
        "---- `maa-guard watch`: [watch] and [[notify]] receivers (docs/watch.md) ----\n"
        "Secrets never go in this file: a receiver names the environment variable that holds "
        "its URL, password or key. `maa-guard watch test-notify` checks every receiver."
    ) + _commented(
        "[watch]\n"
        f"interval = {_value(_duration(watch.interval))}\n"
        f"warn_before = {_value(_duration(watch.warn_before))}\n"
        f"scan_severity = {_value(watch.scan_severity.label)}\n"
        "\n"
        "[[notify]]\n"
        'name = "teams-approvers"\n'
        'type = "teams"\n'
        'url_env = "MAA_TEAMS_WEBHOOK_URL"\n'
        'events = ["request.*"]\n'
    )


def _exclusions_section(exclusions: str | None, today: date) -> str:
    intro = _comment(
        "---- [[exclusions]]: the exclusions your team has agreed to, as code ----\n"
        "MAA408 compares them with the tenant. `policy` is the access policy id or exact "
        "display name, `app` the appId; after `review_by` MAA408 fails until the entry is "
        "reviewed."
    )
    if exclusions is not None:
        return intro + "\n" + exclusions
    review_by = today + timedelta(days=90)
    return (
        intro
        + _comment(
            "`maa-guard exclusions export` writes the exclusions the audit log shows (so does "
            "`maa-guard init` given --auth, --graph-endpoint, --snapshot FILE or --demo); add "
            "the older ones from each policy's Exclusions tab in the Intune admin center."
        )
        + _commented(
            "[[exclusions]]\n"
            'policy = "Apps - all platforms"\n'
            'app = "6c1f3e2a-8b1d-4c55-9a77-0d2b4e6f8a90"\n'
            'owner = "endpoint-team@contoso.example"\n'
            'reason = "Patch tool publishes app updates every night"\n'
            f"review_by = {review_by.isoformat()}\n"
        )
    )


# ---- TOML text -------------------------------------------------------------------------------


def _comment(text: str, indent: str = "") -> str:
    """Each paragraph of ``text`` as ``# `` lines, wrapped; continuation lines indented by
    ``indent`` more."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n"):
        wrapped = textwrap.wrap(
            paragraph,
            WIDTH - 2,
            initial_indent=indent,
            subsequent_indent=indent * 2,
            break_on_hyphens=False,
        )
        lines += wrapped or [""]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _commented(toml: str) -> str:
    """TOML lines commented out: removing the leading ``# `` gives back ``toml``."""
    return "".join(f"# {line}".rstrip() + "\n" for line in toml.strip("\n").split("\n"))


def _assignment(name: str, value: Any) -> str:
    text = _value(value)
    if isinstance(value, list) and len(text) > _ONE_LINE_LIST:
        items = "".join(f"    {_value(item)},\n" for item in value)
        text = f"[\n{items}]"
    return f"{name} = {text}"


def _value(value: Any) -> str:
    from maa_guard.exclusions.export import toml_string

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML text for {type(value).__name__}")


def _duration(span: timedelta) -> str:
    """``5m``, ``12h``: the largest unit that divides the span."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
