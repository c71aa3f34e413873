"""The shell around the commands: bare help, "did you mean", completion scripts and answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from maa_guard.cli import main


def test_bare_command_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: maa-guard ")
    assert "completion" in out and "scan" in out


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["scna"], "did you mean 'scan'?"),
        (["exclusion", "show", "x"], "did you mean 'exclusions'?"),
        (["rules", "lsit"], "did you mean 'list'?"),
        (["completion", "fsh"], "did you mean 'fish'?"),
    ],
)
def test_a_mistyped_choice_gets_a_suggestion(
    argv: list[str], suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith(suggestion)


def test_nothing_close_gets_no_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["zzzzzz"])
    assert "did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nospace -o default -o bashdefault -F _python_argcomplete maa-guard"),
        ("zsh", "#compdef maa-guard"),
        ("fish", "complete --command maa-guard"),
    ],
)
def test_completion_script_per_shell(
    shell: str, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    assert marker in capsys.readouterr().out


def _complete(line: str, tmp_path: Path) -> list[str]:
    """What the installed script gets back from maa-guard for the command line ``line``."""
    answer = tmp_path / "answer"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    subprocess.run([sys.executable, "-m", "maa_guard"], env=env, check=True, timeout=60)
    return [word.strip() for word in answer.read_text(encoding="utf-8").split("\n")]


def test_completion_answers_commands_and_options(tmp_path: Path) -> None:
    assert _complete("maa-guard sc", tmp_path) == ["scan"]
    assert set(_complete("maa-guard scan --fail", tmp_path)) == {"--fail-on"}
    assert _complete("maa-guard completion f", tmp_path) == ["fish"]


@pytest.mark.parametrize(
    "argv",
    [
        ["review", "Intune Tag Sinc", "--demo"],
        ["exclusions", "draft", "--demo", "--policy", "Apps - Windows", "--add",
         "intune tag synk", "--justification", "a mistyped app name", "--ticket", "CHG-1"],
    ],
)  # fmt: skip
def test_a_mistyped_app_name_gets_a_suggestion(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["-o", str(tmp_path / "change.json")] if argv[0] == "exclusions" else []
    assert main([*argv, *extra]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "hint: did you mean 'Intune Tag Sync'?"
    assert list(tmp_path.iterdir()) == []


def test_an_app_name_nothing_resembles_keeps_the_general_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["review", "zzzz qqqq", "--demo"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "hint: a snapshot holds only the service principals of excluded apps and of apps that "
        "wrote to Intune; review any other app live (--auth or --graph-endpoint)"
    )
