"""``--jinja NAME=VALUE``: Jinja2 data from the command line, like timeloopfe's
``--jinja_parse_data`` (``get_jinja_parse_data``: ``key=value`` pairs, values as strings,
a key given twice is an error)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dcoc.errors import SpecError


def add_jinja_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jinja",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable for the Jinja2 templates in the input files (repeatable; the value "
        "is a string, as with timeloopfe's --jinja_parse_data)",
    )


def jinja_data(pairs: Sequence[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` as ``{"a": "1", "b": "x"}``; a :class:`SpecError` for a malformed
    or repeated pair."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or name.startswith("_"):
            raise SpecError(
                "<command line>",
                ("--jinja",),
                f"{pair!r} must be NAME=VALUE with NAME an identifier not starting with _",
            )
        if name in out:
            raise SpecError("<command line>", ("--jinja", name), "given twice; give it once")
        out[name] = value
    return out
