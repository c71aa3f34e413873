"""Option groups shared by the commands, and reading them back: input, connection, terminal,
and the output grammar (``--format`` for standard output, ``-o/--output`` for files).

Light to import: every command module adds these groups while ``maa-guard --help`` builds the
parser, so heavy modules are imported inside the functions that turn parsed options into work.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from maa_guard.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from maa_guard.config import Connection
    from maa_guard.scan.live import LiveOptions
    from maa_guard.scan.pipeline import ScanRequest

# Literal copies, so that `maa-guard --help` need not import the Graph stack to list them.
AUTH_METHODS = (
    "env",
    "certificate",
    "managed-identity",
    "workload-identity",
    "azure-cli",
    "device-code",
    "token",
)
CLOUDS = ("global", "usgov", "usgov-dod", "china")
SEVERITIES = ("critical", "high", "medium", "low")

# Upper bounds that keep a number from overflowing a date or a timer (exit 2 instead): ten years
# of audit log (Graph keeps two), thirty days of waiting.
MAX_DAYS = 3650
MAX_SECONDS = 30 * 86400

Handler = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_input(command: argparse.ArgumentParser) -> None:
    """--snapshot FILE, --demo and --config: where the tenant comes from."""
    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )


def add_live_options(
    command: argparse.ArgumentParser,
    *,
    title: str = "live collection (read-only)",
    timeout_help: str = "time budget for the whole collection (3600)",
    collection: bool = True,
) -> None:
    """Options for reaching Graph; naming --auth or --graph-endpoint collects live, and so does
    a connection from the environment or the config file (see :func:`resolve_connection`).

    ``collection=False`` (commands that send one write) leaves out --days and --quiet.
    """
    live = command.add_argument_group(title)
    live.add_argument(
        "--auth",
        choices=AUTH_METHODS,
        help="how to sign in (default: MAA_GUARD_AUTH, [connection] auth, else a chain of "
        "env, workload-identity, managed-identity, azure-cli)",
    )
    live.add_argument(
        "--cloud",
        choices=CLOUDS,
        help="national cloud (default: MAA_GUARD_CLOUD, [connection] cloud, else global)",
    )
    live.add_argument(
        "--graph-endpoint",
        metavar="URL",
        help="Graph root to use instead, an emulator or a proxy (default: "
        "MAA_GUARD_GRAPH_ENDPOINT, [connection] graph_endpoint)",
    )
    live.add_argument(
        "--timeout", type=seconds, default=3600.0, metavar="SECONDS", help=timeout_help
    )
    if not collection:
        command.set_defaults(days=30, quiet=False)
        return
    live.add_argument(
        "--days", type=bounded_int(MAX_DAYS, low=1), default=30, help="audit window in days (30)"
    )
    live.add_argument("--quiet", action="store_true", help="no progress lines")


# Options whose value is a file the command reads, and the label an error names it by.
_INPUT_OPTIONS = (
    ("snapshot", "--snapshot"),
    ("config", "--config"),
    ("baseline", "--baseline"),
    ("tenants", "--tenants"),
    ("draft", "the draft"),
    ("before", "A"),
    ("after", "B"),
)
_DEFAULT_CONFIGS = ("maa-guard.toml", "pyproject.toml")


def check_outputs(
    args: argparse.Namespace,
    targets: Iterable[Path | None],
    more_inputs: Iterable[tuple[str, Path]] = (),
) -> None:
    """Before any work: every output file must be a regular file (or new), and none of the
    files the command reads (exit 2). The writer checks the file kind again when it writes."""
    from maa_guard.storage.files import check_output_target

    inputs = [*command_inputs(args), *more_inputs]
    for target in targets:
        if target is not None:
            check_output_target(target, inputs)


def command_inputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The files named by input options, the configuration found in the working folder, and
    the SQLite history a command reads or records to."""
    found = []
    for attribute, label in _INPUT_OPTIONS:
        value = getattr(args, attribute, None)
        if isinstance(value, (str, Path)) and not str(value).isdigit():  # digits: a scan id
            found.append((label, Path(value)))
    found += [("configuration", Path.cwd() / name) for name in _DEFAULT_CONFIGS]
    history = _history_file(args)
    return found if history is None else [*found, ("--history", history)]


def _history_file(args: argparse.Namespace) -> Path | None:
    if not hasattr(args, "history") or not getattr(args, "record", True):
        return None
    from maa_guard.errors import MaaGuardError
    from maa_guard.history.location import Engine, parse_history_url

    try:
        location = parse_history_url(args.history)
    except MaaGuardError:  # reported, with its hint, where the history is opened
        return None
    return location.path if location.engine is Engine.SQLITE else None


def bounded_int(high: int, low: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number up to ``high`` (and from ``low``; without it, the
    handler checks the lower end in its own words). Anything else is exit 2 with a usage line,
    before any work."""
    expected = f"from {low} to {high}" if low is not None else f"up to {high}"

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or more digits than Python converts
            value = None
        if value is None or value > high or (low is not None and value < low):
            raise argparse.ArgumentTypeError(f"expected a whole number {expected}, got {text!r}")
        return value

    return whole_number


def seconds(text: str) -> float:
    """An argparse type: a time in seconds, from 0 to ``MAX_SECONDS`` (not nan, not inf)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to {MAX_SECONDS}, got {text!r}")
    return value


def terminal_color(args: argparse.Namespace) -> bool:
    return (
        not getattr(args, "no_color", False)
        and "NO_COLOR" not in os.environ
        and sys.stdout.isatty()
    )


def terminal_width(default: int = 120) -> int:
    """``COLUMNS`` when set to a width (terminals and ``script -c`` set it, and it lets a pipe
    ask for one), else the terminal's width, else ``default`` off a terminal."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((default, 40)).columns if sys.stdout.isatty() else default


def terminal_rows() -> int | None:
    """How many rows a long report shows on standard output: a terminal gets the first ones
    and a line saying how to get them all; a pipe gets every row."""
    from maa_guard.reporters.layout import TERMINAL_ROWS

    return TERMINAL_ROWS if sys.stdout.isatty() else None


def resolve_connection(args: argparse.Namespace) -> Connection:
    """The connection a live command uses: flags > ``MAA_GUARD_AUTH``, ``MAA_GUARD_GRAPH_ENDPOINT``,
    ``MAA_GUARD_CLOUD``, ``MAA_GUARD_TENANT_ID`` > the config file's ``[connection]`` > defaults.

    Written back into ``args`` (``auth``, ``graph_endpoint``, ``cloud``, ``connection``), so
    every handler reads the same values; done once. --snapshot and --demo win over a connection
    from the environment or the file: only flags make them a live command too.
    """
    from maa_guard.config import Connection, find_config_file, load_connection

    settled = getattr(args, "connection", None)
    if isinstance(settled, Connection):
        return settled
    if not hasattr(args, "graph_endpoint"):  # a command without the connection options
        return Connection()
    flags = {"auth": args.auth, "graph_endpoint": args.graph_endpoint, "cloud": args.cloud}
    named_input = getattr(args, "snapshot", None) is not None or getattr(args, "demo", False)
    # `init` collects only when a flag asks: it also runs with no input at all.
    named_input = named_input or getattr(args, "live_only_by_flags", False)
    if named_input and args.auth is None and args.graph_endpoint is None:
        connection = Connection(cloud=args.cloud or "global")
    else:
        found = find_config_file(getattr(args, "config", None), Path.cwd())
        connection = load_connection(
            found, os.environ, flags, auth_methods=AUTH_METHODS, clouds=CLOUDS
        )
    args.auth, args.graph_endpoint = connection.auth, connection.graph_endpoint
    args.cloud, args.connection = connection.cloud, connection
    return connection


@contextmanager
def connection_in_use(args: argparse.Namespace) -> Iterator[None]:
    """Around a command's handler: a live command's connection resolved into ``args``, and its
    ``tenant_id`` given to the credentials as ``AZURE_TENANT_ID`` while the command runs (an
    ``AZURE_TENANT_ID`` of the environment wins). The variable is set, not passed along,
    because every credential and collector already reads the process environment."""
    if not hasattr(args, "graph_endpoint"):  # not a live command
        yield
        return
    from maa_guard.config import TENANT_VARIABLE

    seen = resolve_connection(args).credential_environ(os.environ)
    if seen is os.environ:
        yield
        return
    before = os.environ.get(TENANT_VARIABLE)
    os.environ[TENANT_VARIABLE] = seen[TENANT_VARIABLE]
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(TENANT_VARIABLE, None)
        else:
            os.environ[TENANT_VARIABLE] = before


def live_options(args: argparse.Namespace) -> LiveOptions | None:
    """Collect live when a sign-in method or a Graph endpoint is named: by a flag, by the
    environment or by the config file (see :func:`resolve_connection`)."""
    from maa_guard.scan.live import LiveOptions

    connection = resolve_connection(args)
    if not connection.live:
        return None
    return LiveOptions(
        connection.auth,
        connection.cloud,
        connection.graph_endpoint,
        args.timeout,
        args.days,
        args.quiet,
    )


def connection_flags(args: argparse.Namespace) -> list[str]:
    """The --auth, --graph-endpoint and --cloud in use, as arguments for a command to copy."""
    connection = resolve_connection(args)
    flags = []
    if connection.auth is not None:
        flags += ["--auth", connection.auth]
    if connection.graph_endpoint is not None:
        flags += ["--graph-endpoint", connection.graph_endpoint]
    if connection.cloud != "global":
        flags += ["--cloud", connection.cloud]
    return flags


def command_line(*words: str) -> str:
    """``maa-guard WORDS``, each word shell-quoted: a hint a person can paste as it is."""
    return shlex.join(["maa-guard", *words])


def scan_request(
    args: argparse.Namespace,
    flags: Mapping[str, Any] | None = None,
    live: LiveOptions | None = None,
) -> ScanRequest:
    """The input a command names: --snapshot, --demo or live collection, and its config."""
    from maa_guard.scan.pipeline import ScanRequest

    chosen = live if live is not None else live_options(args)
    quiet = bool(getattr(args, "quiet", False))
    return ScanRequest(args.snapshot, args.demo, args.config, flags or {}, chosen, quiet)


# ---- the output grammar: --format FORMAT (standard output), -o/--output [FORMAT=]PATH (files) --

SCAN_FORMATS = ("table", "json", "sarif", "junit", "html", "markdown", "csv")
TABLE_JSON = ("table", "json")
TABLE_JSON_MARKDOWN = ("table", "json", "markdown")

# The file suffixes and the format each names, for every command; the longest suffix that
# matches wins, so `report.junit.xml` is JUnit as `report.xml` is.
SUFFIX_FORMATS: dict[str, str] = {
    ".json": "json",
    ".sarif": "sarif",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".junit.xml": "junit",
    ".xml": "junit",
    ".txt": "table",
}
FORMAT_ALIASES = {"md": "markdown"}
# What may stand before '=' as a format: a word. `./a=b.json` or `json=a=b.json` name such a file.
_FORMAT_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class OutputFormats:
    """What one command renders: the formats of ``--format`` (standard output) and of
    ``-o/--output`` (files), the default on a terminal and when piped, a file name for hints."""

    command: str
    formats: tuple[str, ...]
    terminal: str = "table"
    piped: str = "json"
    example: str = "report.json"

    @property
    def suffixes(self) -> tuple[str, ...]:
        return tuple(suffix for suffix, name in SUFFIX_FORMATS.items() if name in self.formats)

    def file_for(self, output_format: str) -> str:
        """``example`` with the suffix of ``output_format``: a hint's file name."""
        suffix = next(s for s, name in SUFFIX_FORMATS.items() if name == output_format)
        return Path(self.example).stem + suffix


# Every command that renders, in the order docs/output-formats.md lists them.
OUTPUT_FORMATS: dict[str, OutputFormats] = {
    formats.command: formats
    for formats in (
        OutputFormats("scan", SCAN_FORMATS, example="report.sarif"),
        OutputFormats("inventory", TABLE_JSON, example="inventory.json"),
        OutputFormats("impact", ("table", "json", "csv", "html"), example="impact.html"),
        OutputFormats("review", TABLE_JSON_MARKDOWN, example="review.md"),
        OutputFormats("diff", TABLE_JSON_MARKDOWN, example="drift.md"),
        OutputFormats("history list", TABLE_JSON, example="scans.json"),
        OutputFormats("fleet scan", ("table", "json", "html"), example="fleet.html"),
        OutputFormats("permissions", TABLE_JSON, example="permissions.json"),
        OutputFormats("rules list", TABLE_JSON, example="rules.json"),
        OutputFormats("rules show", ("markdown", "json"), "markdown", "markdown", "rule.md"),
        OutputFormats("probe", TABLE_JSON_MARKDOWN, "table", "table", "probe.md"),
        OutputFormats("explain", TABLE_JSON_MARKDOWN, "table", "table", "finding.md"),
        OutputFormats("watch outbox", TABLE_JSON, example="outbox.json"),
    )
}
_EVERY_FORMAT = frozenset(name for f in OUTPUT_FORMATS.values() for name in f.formats)


@dataclass(frozen=True)
class OutputFile:
    """One ``-o/--output`` file: its format, its path, and the option as it was spelled."""

    format: str
    path: Path
    option: str = "-o"


def add_output_options(
    command: argparse._ActionsContainer, formats: OutputFormats, *, output_help: str = ""
) -> None:
    """``--format FORMAT`` and repeatable ``-o/--output [FORMAT=]PATH``, read back with
    :func:`output_files` and :func:`stdout_format`."""
    default = (
        f"{formats.terminal} on a terminal, {formats.piped} otherwise"
        if formats.terminal != formats.piped
        else formats.terminal
    )
    command.add_argument(
        "--format",
        type=_format_name,
        choices=formats.formats,
        help=f"standard output format (default {default}; none when only -o is given)",
    )
    command.add_argument(
        "-o",
        "--output",
        action=_OutputSpec,
        default=[],
        metavar="[FORMAT=]PATH",
        help=output_help
        or f"also write FORMAT to PATH, or the format its suffix names "
        f"({' '.join(formats.suffixes)}); repeatable; written once the work succeeded",
    )


def _format_name(text: str) -> str:
    name = text.strip().lower()
    return FORMAT_ALIASES.get(name, name)


class _OutputSpec(argparse.Action):
    """Appends (the option as spelled, its value): an error names what the user typed."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        specs = [*(getattr(namespace, self.dest, None) or ())]
        specs.append((option_string or "-o", str(values)))
        setattr(namespace, self.dest, specs)


def output_files(args: argparse.Namespace, formats: OutputFormats) -> list[OutputFile]:
    """The ``-o/--output`` files, each with its format; checked before any work (exit 2)."""
    return parse_outputs(args.output, formats)


def parse_outputs(specs: Iterable[tuple[str, str]], formats: OutputFormats) -> list[OutputFile]:
    """(option as spelled, ``[FORMAT=]PATH``) pairs as files; two naming one file is exit 2."""
    files = [_output_file(option, spec, formats) for option, spec in specs]
    seen: set[Path] = set()
    for file in files:
        where = _resolved(file.path)
        if where in seen:
            raise UsageError(
                f"two {file.option} options name the same file", "give each report its own file"
            )
        seen.add(where)
    return files


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: the writer reports it; compare the names
        return path.absolute()


def stdout_format(args: argparse.Namespace, formats: OutputFormats) -> str | None:
    """``--format``; else nothing when files are asked; else the default for a terminal or a
    pipe."""
    chosen: str | None = args.format
    if chosen is not None:
        return chosen
    if args.output:
        return None
    return formats.terminal if sys.stdout.isatty() else formats.piped


def _output_file(option: str, spec: str, formats: OutputFormats) -> OutputFile:
    name, separator, rest = spec.partition("=")
    if separator and _FORMAT_WORD.fullmatch(name.strip()):
        chosen = _format_name(name)
        _check_supported(f"{option} {spec!r}", chosen, formats, name.strip())
        if not rest:
            hint = f"e.g. {option} {chosen}={formats.file_for(chosen)}"
            raise UsageError(f"{option} {spec!r}: no file after '='", hint)
        return OutputFile(chosen, Path(rest), option)
    if not spec:
        raise UsageError(f"{option} needs a file name", f"e.g. {option} {formats.example}")
    file_name = Path(spec).name.lower()
    suffixes = sorted(SUFFIX_FORMATS, key=len, reverse=True)
    suffix = next((s for s in suffixes if file_name.endswith(s)), None)
    if suffix is None:
        raise UsageError(
            f"{option} {spec!r}: cannot tell the format from the file name",
            f"write FORMAT=FILE, with FORMAT one of {', '.join(formats.formats)}, or end the "
            f"name in {_either(formats.suffixes)}",
        )
    _check_supported(f"{option} {spec!r}", SUFFIX_FORMATS[suffix], formats, suffix)
    return OutputFile(SUFFIX_FORMATS[suffix], Path(spec), option)


def _check_supported(where: str, chosen: str, formats: OutputFormats, as_given: str) -> None:
    if chosen in formats.formats:
        return
    what = f"unknown format {as_given!r}"
    if chosen in _EVERY_FORMAT:
        what = f"{formats.command} does not write {chosen}"
    raise UsageError(f"{where}: {what}", f"choose from {', '.join(formats.formats)}")


def _either(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
