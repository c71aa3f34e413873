"""TOML reading through ``tomllib`` (``tomli`` below Python 3.11).

``read_toml`` fails with ``TOMLDecodeError`` for every kind of bad document, including those
``tomllib`` lets through as other exceptions: arrays or inline tables nested past the parser's
recursion, and integers with more digits than Python converts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class TOMLDecodeError(ValueError):
    """A document that is not TOML maa-guard can read; the text says why."""


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = handle.read()
    return parse_toml(data.decode("utf-8"))


def parse_toml(text: str) -> dict[str, Any]:
    """Every problem with the document is a ``TOMLDecodeError``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TOMLDecodeError(str(error)) from None
    except RecursionError:
        raise TOMLDecodeError("nested too deeply") from None
    except ValueError as error:  # an integer longer than Python converts
        raise TOMLDecodeError(str(error)) from None
