"""`emulate`: serve a tenant as a loopback Graph emulator (parser and handler)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maa_guard.cli.options import SubParsers, bounded_int
from maa_guard.errors import EXIT_OK, OutputError, UsageError

if TYPE_CHECKING:
    from maa_guard.emulator import Emulator

# The emulator's profiles (maa_guard.emulator.PROFILES), kept here so --help imports no emulator.
PROFILES = ("default", "published")
TOKEN_FILE_HINT = "name a regular file, or a new one"
_NOT_REGULAR = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register emulate."""
    emulate = commands.add_parser(
        "emulate", parents=[common], help="serve a tenant as a loopback Graph emulator"
    )
    emulate.add_argument(
        "--tenant",
        type=Path,
        required=True,
        metavar="FILE",
        help="an emulator fixture or a snapshot JSON file",
    )
    emulate.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="published: serve what Microsoft's Graph publishes (no exclusion property, null "
        "request identities, MAA audit category); default: the provisional exclusion property",
    )
    emulate.add_argument("--port", type=bounded_int(65535, low=0), default=0)
    emulate.add_argument("--latency-ms", type=bounded_int(60000, low=0), default=0)
    emulate.add_argument("--approval-mode", choices=("403", "412"), default="412")
    emulate.add_argument("--fault", action="append", default=[], metavar="KIND=VALUE")
    emulate.add_argument("--no-throttle", action="store_true")
    emulate.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="write every bearer token (reader, applications, users) to FILE as JSON, readable "
        "by you only, instead of printing the reader token on stderr",
    )
    emulate.add_argument(
        "--fixed-tokens",
        action="store_true",
        help="accept the fixture's token names (maa-guard-reader, app-<appId>, user-<userId>) "
        "as the tokens instead of random ones: for tests and documentation only, since anyone "
        "who can reach the port can then read and approve in the tenant",
    )
    emulate.set_defaults(handler=run_emulate)


def run_emulate(args: argparse.Namespace) -> int:
    from maa_guard.emulator import serve_forever
    from maa_guard.emulator.faults import faults_from_options

    if args.profile == "published" and args.approval_mode != "412":
        raise UsageError(
            "--approval-mode 403 does not go with --profile published",
            "the published profile answers a filed request with 412, as Microsoft's page does",
        )

    def announce(emulator: Emulator) -> None:
        if args.token_file is not None:
            write_token_file(args.token_file, emulator.token_document())
        for line in announcement(emulator, args.token_file):
            print(line, file=sys.stderr, flush=True)

    check_tenant_file(args.tenant)
    if args.token_file is not None:
        check_token_file(args.token_file)
    try:
        serve_forever(
            args.tenant,
            port=args.port,
            profile=args.profile,
            latency_ms=args.latency_ms,
            approval_mode=args.approval_mode,
            faults=faults_from_options(args.fault),
            throttle=not args.no_throttle,
            ready=announce,
            fixed_tokens=args.fixed_tokens,
        )
    except OSError as error:  # only listening can fail this way: the fixture is read already
        raise UsageError(
            f"cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}",
            "choose another --port, or --port 0 for any free one",
        ) from None
    return EXIT_OK


def check_tenant_file(path: Path) -> None:
    """JSON too deep for the emulator's loader is bad input (exit 2), like any other fault the
    loader reports itself."""
    from maa_guard.errors import InputError
    from maa_guard.storage.jsontext import JsonInputError, load_json_text

    try:
        load_json_text(path.read_bytes())
    except JsonInputError as error:
        raise InputError(
            f"cannot read tenant fixture {path}: {error}",
            "see docs/emulator-fixture.md for the tenant fixture contract",
        ) from None
    except (OSError, ValueError):
        return  # the loader says what is wrong, in its own words


def announcement(emulator: Emulator, token_file: Path | None) -> list[str]:
    """The lines ``emulate`` prints on stderr once it listens: where, and which token."""
    lines = [f"Graph emulator: {emulator.url}/beta; Ctrl-C stops it"]
    if token_file is not None:
        return [*lines, f"Tokens: written to {token_file}"]
    try:
        lines.append(f"Reader token (app-only, read-only): {emulator.reader_token}")
    except LookupError:
        lines.append("Reader token: none in this fixture")
    if emulator.fixed_tokens:
        lines.append(
            "Fixed tokens (for tests and documentation only): the fixture's token names "
            "(from a snapshot: app-<appId>, user-<userId>)"
        )
    else:
        lines.append(
            "The application and user tokens: restart with --token-file FILE "
            "(JSON, readable by you only)"
        )
    return lines


def check_token_file(path: Path) -> None:
    """Refuse (exit 2), before serving, a token file that exists and is not a regular file
    (a link included: the tokens are not written through one), or whose folder is missing."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise _unwritable(path, error) from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "not a file")
        raise OutputError(f"cannot write {path}: it is {kind}, not a regular file", TOKEN_FILE_HINT)
    if not path.absolute().parent.is_dir():
        raise OutputError(f"cannot write {path}: its folder does not exist", TOKEN_FILE_HINT)


def write_token_file(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` as JSON to a new 0600 file in ``path``'s folder, then rename it over
    ``path``: nobody else can read the tokens, and a link or pipe put there meanwhile is
    replaced, never written through."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.absolute().parent)
    except OSError as error:
        raise _unwritable(path, error) from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _unwritable(path, error) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _unwritable(path: Path, error: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {error.strerror or error}", TOKEN_FILE_HINT)
