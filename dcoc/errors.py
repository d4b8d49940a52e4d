"""Errors raised at dcoc's edges: bad input files and bad configurations.

Every error a user can cause names the file, the place inside it and what to do about it.
Entry points print ``str(error)`` on one line and exit with status 2; library code raises.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_yaml_path(path: Sequence[str | int]) -> str:
    """Render a YAML path such as ``("architecture", "nodes", 2, "attributes")`` as
    ``architecture.nodes[2].attributes``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top>"


class SpecError(ValueError):
    """A malformed input specification (architecture, problem, mapping, ERT/ART, config).

    ``file`` is the file it came from (or ``"<memory>"``), ``yaml_path`` the location inside
    the document and ``message`` what is wrong and how to fix it.
    """

    def __init__(self, file: str | None, yaml_path: Sequence[str | int], message: str) -> None:
        self.file = file or "<memory>"
        self.yaml_path = tuple(yaml_path)
        self.message = message
        super().__init__(f"{self.file}: {format_yaml_path(self.yaml_path)}: {message}")


class ConfigError(SpecError):
    """A malformed experiment configuration (unknown key, wrong type, impossible setting)."""
