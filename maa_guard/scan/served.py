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

# The child imports from exactly this process's module path; -I keeps the PYTHON* variables
# (PYTHONPATH, PYTHONSTARTUP...), the user's site folder and its own working directory out.
_CHILD = "import sys; sys.path[:] = {path!r}; from maa_guard.emulator.recording import main; main()"
_HINT = "reinstall maa-guard: the demo tenant and the emulator ship with it"
_ENDED_HINT = "run the command again; if it keeps failing, reinstall maa-guard"
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
        module_path = [entry for entry in sys.path if isinstance(entry, str)]
        command = [sys.executable, "-I", "-c", _CHILD.format(path=module_path), str(recording)]
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

    def requests(self) -> list[LoggedRequest]:
        """The emulator's request log so far (never a token or a body)."""
        from maa_guard.emulator import LoggedRequest

        self.tenant()
        assert self._process.stdin is not None
        try:
            self._process.stdin.write("log\n")
            self._process.stdin.flush()
        except OSError:
            pass  # the child is gone: _answer says so
        try:
            return [LoggedRequest(**item) for item in self._answer()]
        except TypeError:
            raise self._garbled() from None

    def close(self) -> None:
        """End the child and wait for it: the end of its standard input once it serves;
        before that (a command that stops early) at once, since it holds nothing to save."""
        process = self._process
        if self._tenant is None:
            process.kill()
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

    def tenant(self) -> ServedTenant:
        """The served tenant, once the emulator listens; InputError when it cannot serve."""
        if self._tenant is None:
            try:
                self._tenant = _served_tenant(self._answer())
            except (KeyError, TypeError, ValueError):
                raise self._garbled() from None
        return self._tenant

    def _answer(self) -> Any:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait()
            how = f"exit code {code}" if code >= 0 else f"stopped by signal {-code}"
            raise InputError(
                f"the Graph emulator serving {self.recording} ended before it answered ({how})",
                _ENDED_HINT,
            )
        try:
            answer = json.loads(line)
        except ValueError:
            raise self._garbled() from None
        if isinstance(answer, dict) and "error" in answer:
            message = f"cannot serve {self.recording}: {answer['error']}"
            raise InputError(message, str(answer.get("hint") or _HINT))
        return answer

    def _garbled(self) -> InputError:
        return InputError(
            f"the Graph emulator serving {self.recording} answered in a form maa-guard does "
            "not know",
            _HINT,
        )


def served_demo() -> ServedRecording:
    """The bundled demo tenant, starting to be served now."""
    return ServedRecording(demo_path("snapshot.json"))


def demo_serving(
    served: ServedRecording | None,
) -> contextlib.AbstractContextManager[ServedRecording]:
    """``served`` when a command started it already (and will end it), else the demo tenant
    served for this ``with`` alone."""
    return contextlib.nullcontext(served) if served is not None else served_demo()


def demo_served_if(wanted: bool) -> contextlib.AbstractContextManager[ServedRecording | None]:
    """For a command with ``--demo``: the demo tenant starting to be served now, while the
    command goes on with its imports and its checks; else nothing."""
    return served_demo() if wanted else contextlib.nullcontext()


def _served_tenant(answer: dict[str, str]) -> ServedTenant:
    return ServedTenant(
        answer["url"], answer["reader_token"], datetime.fromisoformat(answer["collected_at"])
    )
