"""Run one command and report its wall time and peak RSS, for ``bench_collect.py``.

Not a test. ``python measured.py REPORT.json STDOUT -- COMMAND...`` runs COMMAND with its
standard output in the file STDOUT (standard error in STDOUT.stderr) and writes to
REPORT.json: ``started`` and ``exited`` (``time.monotonic()``, one clock for every process of
the machine on Linux), ``returncode`` and ``max_rss_kib`` (``ru_maxrss`` of the command
alone, from ``os.wait4``).

Why a launcher of its own: Linux carries a process's RSS high-water mark across ``exec`` from
the memory it had before, so a command forked from the benchmark (hundreds of MiB of synthetic
tenant) would report the benchmark's size, not its own. Forked from this small process, it
starts from this process's size, well under any ``maa-guard`` run's peak.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Measured:
    started: float
    exited: float
    returncode: int
    max_rss_kib: int

    @property
    def seconds(self) -> float:
        return self.exited - self.started


def run(command: list[str], stdout: Path, env: dict[str, str], cwd: Path) -> Measured:
    """COMMAND through this module in a fresh interpreter, in folder ``cwd``; its figures."""
    report = stdout.with_name(stdout.name + ".measured.json")
    launcher = [sys.executable, str(Path(__file__).resolve()), str(report), str(stdout), "--"]
    subprocess.run([*launcher, *command], env=env, cwd=cwd, check=True)
    return Measured(**json.loads(report.read_text()))


def _main(report: str, stdout: str, command: list[str]) -> None:
    with open(stdout, "wb") as out, open(stdout + ".stderr", "wb") as err:
        started = time.monotonic()
        # As run from a terminal: a benchmark started in the background ignores Ctrl-C, and
        # asyncio.run only does its Ctrl-C work (with its cost) where Ctrl-C has its default.
        child = subprocess.Popen(command, stdout=out, stderr=err, preexec_fn=_default_interrupt)
        _, status, usage = os.wait4(child.pid, 0)
        exited = time.monotonic()
        child.returncode = os.waitstatus_to_exitcode(status)
    figures = Measured(started, exited, child.returncode, usage.ru_maxrss)
    Path(report).write_text(json.dumps(asdict(figures)))


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: measured.py REPORT.json STDOUT -- COMMAND...")
    _main(sys.argv[1], sys.argv[2], sys.argv[4:])
