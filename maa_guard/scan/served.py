"""A recorded tenant (the bundled demo) served by the Graph emulator in a process of its own.

Why a process of its own: the collector and the emulator each keep a CPU busy for the whole
collection. In one process they take turns on the interpreter lock, and the emulator's start
(its modules and the tenant) comes before the collector's imports instead of beside them. The
child serves until its standard input ends, so it never outlives the command that started it.

Only the standard library is imported here: a command starts the child before its own heavy
imports.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from maa_guard.errors import InputError

if TYPE_CHECKING:
    from maa_guard.emulator import LoggedRequest

# -I keeps the working directory and the PYTHON* variables out of the child's module path:
# it imports from exactly the path this process imports from.
_CHILD = "import sys; sys.path[:] = {path!r}; from maa_guard.emulator.recording import main; main()"
_HINT = "reinstall maa-guard: the demo tenant and the emulator ship with it"
_STOP_SECONDS = 5.0


def demo_path(name: str) -> Path:
    return Path(str(resources.files("maa_guard") / "data" / "demo" / name))


@dataclass(frozen=True, slots=True)
class ServedTenant:
    """Where the recording is served, the reader token, and the recording's time."""

    url: str
    reader_token: str
    collected_at: datetime


class ServedRecording:
    """``with ServedRecording(SNAPSHOT) as served:`` starts the emulator's process at once;
    ``served.tenant()`` waits until it listens."""

    def __init__(self, recording: Path) -> None:
        self.recording = recording
        command = [sys.executable, "-I", "-c", _CHILD.format(path=sys.path), str(recording)]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        except OSError as error:
            raise InputError(
                f"cannot start the Graph emulator for {recording}: {error.strerror or error}",
                _HINT,
            ) from None
        self._tenant: ServedTenant | None = None

    @property
    def process_id(self) -> int:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """None while the child runs."""
        return self._process.returncode

    def tenant(self) -> ServedTenant:
        """The served tenant, once the emulator listens; InputError when it cannot serve."""
        if self._tenant is None:
            self._tenant = _served_tenant(self._answer())
        return self._tenant

    def requests(self) -> list[LoggedRequest]:
        """The emulator's request log so far (never a token or a body)."""
        from maa_guard.emulator import LoggedRequest

        self.tenant()
        assert self._process.stdin is not None
        self._process.stdin.write("log\n")
        self._process.stdin.flush()
        return [LoggedRequest(**item) for item in self._answer()]

    def close(self) -> None:
        """End the child (the end of its standard input) and wait for it."""
        process = self._process
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ServedRecording:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _answer(self) -> Any:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait()
            raise InputError(
                f"the Graph emulator serving {self.recording} ended before it answered "
                f"(exit code {code})",
                _HINT,
            )
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise InputError(f"cannot serve {self.recording}: {answer['error']}", _HINT)
        return answer


def served_demo() -> ServedRecording:
    """The bundled demo tenant, starting to be served now."""
    return ServedRecording(demo_path("snapshot.json"))


def demo_served_if(wanted: bool) -> contextlib.AbstractContextManager[ServedRecording | None]:
    """For a command with ``--demo``: the demo tenant starting to be served now, while the
    command goes on with its imports and its checks; else nothing."""
    return served_demo() if wanted else contextlib.nullcontext()


def _served_tenant(answer: dict[str, str]) -> ServedTenant:
    return ServedTenant(
        answer["url"], answer["reader_token"], datetime.fromisoformat(answer["collected_at"])
    )
