"""Handler for `fleet scan`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

from maa_guard.errors import UsageError
from maa_guard.fleet.report import FleetRun, render_html, render_json, render_table
from maa_guard.fleet.run import FleetOptions, Recorder, TenantOutcome, fleet_exit_code, scan_fleet
from maa_guard.fleet.tenants import load_tenants, parse_shard, shard_of
from maa_guard.reporters import OutputFormat

_COMBINED: dict[str, Callable[[FleetRun], str]] = {"json": render_json, "html": render_html}


def run_fleet_scan(args: argparse.Namespace) -> int:
    from maa_guard.files import write_all_atomically

    outputs = _combined_outputs(args.output)
    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    tenants = load_tenants(args.tenants)
    shard = ""
    if args.shard:
        k, n = parse_shard(args.shard)
        tenants, shard = shard_of(tenants, k, n), f"{k}/{n}"
    options = FleetOptions(
        environ=os.environ,
        cwd=Path.cwd(),
        today=date.today(),
        parallel=args.parallel,
        out_dir=_out_dir(args.out_dir),
        formats=tuple(OutputFormat(f) for f in (args.tenant_format or ["json", "html"])),
        recorder=_recorder(args),
    )
    outcomes = scan_fleet(tenants, options, _progress(len(tenants), args.quiet))
    run = FleetRun(tuple(outcomes), fleet_exit_code(outcomes), datetime.now(timezone.utc), shard)
    write_all_atomically([(path, [_COMBINED[name](run)]) for name, path in outputs])
    _emit(run, args.format or ("table" if sys.stdout.isatty() else "json"), args)
    return run.exit_code


def _combined_outputs(specs: list[str]) -> list[tuple[str, Path]]:
    outputs = []
    for spec in specs:
        name, separator, path = spec.partition("=")
        if not separator or not path or name not in _COMBINED:
            raise UsageError(
                f"--output {spec!r}: expected json=FILE or html=FILE",
                "e.g. --output html=fleet.html",
            )
        outputs.append((name, Path(path)))
    return outputs


def _out_dir(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out-dir {path}: {error.strerror}") from None
    return path


def _recorder(args: argparse.Namespace) -> Recorder | None:
    if not args.record:
        if args.history:
            raise UsageError("--history is used with --record", "add --record")
        return None
    from maa_guard.history import recorder_for

    return recorder_for(args.history)


def _progress(total: int, quiet: bool) -> Callable[[TenantOutcome], None]:
    done = 0

    def tell(outcome: TenantOutcome) -> None:
        nonlocal done
        done += 1
        if not quiet:
            from maa_guard.reporters.text import one_line

            print(
                f"[{done}/{total}] {one_line(outcome.name)}: {outcome.status} "
                f"({outcome.seconds:.1f} s)",
                file=sys.stderr,
            )

    return tell


def _emit(run: FleetRun, output_format: str, args: argparse.Namespace) -> None:
    if output_format == "table":
        from maa_guard.commands import terminal_color, terminal_width

        sys.stdout.write(render_table(run, terminal_color(args), terminal_width()))
    else:
        sys.stdout.write(_COMBINED[output_format](run))
